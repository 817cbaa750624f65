"""jaxtext.widgets: the notebook view of a training run (a ``jaxtext`` callback plugin).

    run = jaxtext.train(model="mlp", data="rotten_tomatoes", callbacks=["dashboard"])

``Dashboard`` shows a live progress bar, Altair charts (drawn offline as SVG), classifier
reports or language-model samples, and a Stop button; when the run ends it leaves a static
summary. ``run_summary_html(run)`` gives the same summary for a finished ``Run``. The chart
builders (``jaxtext.widgets.charts``) are pure ``history -> alt.Chart`` functions.
``comparison_chart(jaxtext.compare(...))`` is the Altair chart of compared runs, and
``comparison_html`` their notebook view (the ``jaxtext.views`` entry point ``comparison``).
``LRFinderChart`` draws ``jaxtext.lr_find``'s loss-vs-rate curve live (``lr_chart.py``).
``SweepDashboard`` is the live view of ``jaxtext.sweep`` (one loss curve per configuration and
the ranked table); ``sweep_chart`` its chart.
"""

from .compare import comparison_chart, comparison_html
from .dashboard import Dashboard
from .lr_finder import LRFinderChart
from .summary import run_summary_html
from .sweep import SweepDashboard, sweep_chart

__all__ = ["Dashboard", "LRFinderChart", "SweepDashboard", "comparison_chart", "comparison_html",
           "run_summary_html", "sweep_chart"]
