"""The README is the manual: its first screen and key tables must match the code."""

import dataclasses
from pathlib import Path

from jaxtext.config import Config
from jaxtext.registry import models

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_first_screen_has_the_two_commands():
    first_screen = "\n".join(README.splitlines()[:25])
    assert "make demo" in first_screen and "make test" in first_screen
    assert "docs/dashboard.png" in first_screen and (Path(__file__).parent.parent / "docs" /
                                                     "dashboard.png").exists()


def test_every_config_key_is_documented():
    for field in dataclasses.fields(Config):
        if field.name != "model_args":
            assert f"| `{field.name}` |" in README, field.name


def test_every_builtin_model_key_is_documented():
    for name in ("mlp", "lstm", "transformer"):
        for field in dataclasses.fields(models.get(name).Config):
            assert f"| `{field.name}` |" in README, (name, field.name)


def test_benchmark_tables_quote_the_recorded_results():
    """The README's numbers are the ones the benchmark scripts wrote, not edited by hand."""
    import json

    results = Path(__file__).parent.parent / "benchmarks" / "results"
    section = README[README.index("## Benchmarks"):README.index("## Limits")]
    classify = json.loads((results / "classify.json").read_text())
    for row in classify["rows"]:
        assert f"| {row['model']} |" in section and f"{row['test_accuracy']:.3f}" in section
        assert f"{row['ratio']:.2f}" in section and row["pass"] and row["speed_pass"]
    lm = json.loads((results / "lm.json").read_text())
    for row in lm["rows"]:
        assert f"{row['test_bpc']:.3f}" in section and row["pass"]
    dashboard = json.loads((results / "dashboard.json").read_text())
    for row in dashboard["rows"]:  # a missed target is shown as missed, not left out
        cost = f"{row['cost'] * 100:+.1f} %".replace("-", "−")
        verdict = "✓" if row["cost"] <= dashboard["target"] else "✗"
        assert f"{cost} {verdict}" in section


def test_preset_table_quotes_the_recorded_accuracy_run():
    """Each preset row's headline number, time and verdict are bench_accuracy.py's."""
    import json

    results = Path(__file__).parent.parent / "benchmarks" / "results"
    section = README[README.index("### Presets"):README.index("## Python")]
    accuracy = json.loads((results / "accuracy.json").read_text())
    for row in accuracy["rows"]:
        mark = "✓" if row["pass"] else "✗"
        assert f"**{row['value']:.3f} in {row['train_s']:.0f} s {mark}**" in section, row


def test_durability_and_notebook_tables_quote_the_recorded_results():
    import json

    results = Path(__file__).parent.parent / "benchmarks" / "results"
    section = README[README.index("## Benchmarks"):README.index("## Limits")]
    checkpoint = json.loads((results / "checkpoint.json").read_text())
    for row in checkpoint["table"]:
        assert f"{row['seconds']:.1f} s" in section and row["cost"].replace("-", "−") in section
    assert f"{checkpoint['files']['save_s']:.2f} s" in section
    notebook = json.loads((results / "notebook.json").read_text())
    for row in notebook["stops"]:
        assert f"{row['ended_s']:.2f}" in section and f"{row['seconds']:.2f}" in section
        assert row["ended_s"] <= 1.0 and row["seconds"] <= 1.5
    for row in notebook["queue"]:
        assert f"{100 * row['cost']:+.1f} %".replace("-", "−") in section
        assert row["cost"] <= 0.02


def test_framework_table_quotes_the_recorded_run():
    import json

    results = Path(__file__).parent.parent / "benchmarks" / "results"
    section = README[README.index("## Benchmarks"):README.index("## Limits")]
    frameworks = json.loads((results / "frameworks.json").read_text())
    for row in frameworks["rows"]:
        rates = " | ".join(f"{row['examples_per_s'][fw]:,.0f}"
                           for fw in ("jaxtext", "keras", "pytorch"))
        assert f"| {row['config']} |" in section
        assert rates in section.replace("**", ""), rates
        assert f"{row['ratio']:.2f} (" in section
