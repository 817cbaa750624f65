"""Let a widget's clicks reach the kernel while the cell that shows it is busy training.

A busy cell blocks the kernel's main thread, and by default the kernel handles every widget
message there, so a Stop button would fire only after training ended. Fixes that were tried here:

* ``jupyter-ui-poll`` (polling the kernel from the training loop): under ipykernel 7.4 it calls
  ``kernel.do_one_iteration``, which ipykernel 7 no longer has; the error is swallowed and no
  message is ever processed (measured: the click ran only after the cell finished). It also
  replays queued ``execute_request`` messages itself, which breaks in VS Code.
* Kernel subshells (ipykernel >= 7): each subshell has its own thread, and ipykernel routes a
  comm's incoming messages to the subshell returned by ``comm._reply_subshell_for``. Pointing that
  at a subshell we own makes the button's click handler run on the subshell's thread at once,
  whatever the front end (the routing happens inside the kernel). Measured: the cell stopped
  0.05 s after the click. This is what ``route_to_subshell`` does.

It uses two private pieces of ipykernel 7 (``SubshellManager._create_subshell`` run on the shell
channel thread, and the comm's ``_reply_subshell_for``), so every step is checked and any
failure returns ``None``: the button then works only when the kernel is idle, and the kernel's
interrupt (■), which the trainer turns into a stop at the next step, remains the way to stop.
The click handler runs on another thread: it must only set thread-safe flags
(``TrainingControl.request_stop`` is a ``threading.Event``).
"""

from __future__ import annotations

import threading
from typing import Any

_subshells: dict[int, str] = {}  # id(kernel) -> the subshell this module created in it
_lock = threading.Lock()


def _kernel() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)


def _create_subshell(manager: Any, timeout: float = 5.0) -> str:
    """Create a subshell on the shell channel thread (where the manager requires it)."""
    result: dict[str, Any] = {}
    done = threading.Event()

    def create() -> None:
        try:
            result["id"] = manager._create_subshell()
        except BaseException as err:  # noqa: BLE001 - reported to the caller's thread
            result["error"] = err
        done.set()

    manager._shell_channel_io_loop.add_callback(create)
    if not done.wait(timeout):
        raise TimeoutError("timed out creating a kernel subshell")
    if "error" in result:
        raise result["error"]
    return result["id"]


def _owned_subshell(kernel: Any) -> str | None:
    manager = getattr(getattr(kernel, "shell_channel_thread", None), "manager", None)
    if manager is None or not hasattr(manager, "_create_subshell") \
            or not hasattr(manager, "_shell_channel_io_loop"):
        return None
    with _lock:
        subshell_id = _subshells.get(id(kernel))
        if subshell_id is None or subshell_id not in manager.list_subshell():
            subshell_id = _subshells[id(kernel)] = _create_subshell(manager)
        return subshell_id


def route_to_subshell(widget: Any) -> str | None:
    """Have the kernel handle ``widget``'s messages on a subshell thread of its own.

    Returns the subshell id, or ``None`` where that is not possible (no kernel, ipykernel < 7,
    a kernel without subshells or without per-comm routing).
    """
    kernel = _kernel()
    comm = getattr(widget, "comm", None)
    if kernel is None or comm is None or not hasattr(comm, "_reply_subshell_for"):
        return None
    try:
        subshell_id = _owned_subshell(kernel)
    except Exception:  # noqa: BLE001 - private API: fall back to the interrupt
        return None
    if subshell_id is None:
        return None
    comm._reply_subshell_for = lambda _data, _default: subshell_id
    return subshell_id
