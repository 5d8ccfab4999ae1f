"""Training on after a lost job: a new job in the same session that starts from the lost one's last weights and
record (explorer.resume), with the live settings it had, for what is left of its budget."""

from __future__ import annotations

from .backend import Backend
from .jobs import Job, JobSpec
from .session import Session


def continue_lost(session: Session, backend: Backend) -> Job:
    """Submit the continuation of the session's lost job; ValueError when it has nothing to go on from, Refused
    (a ConfigError) when the server will not take it now."""
    lost = session.job
    weights = lost.resume_point() if lost is not None else None
    if weights is None:
        raise ValueError("this session's job was not lost, or left no weights to go on from")
    # The settings it ended with; its changes are on the charts already, not to be replayed from step 0 again.
    cfg = lost.cfg.replace(live_changes=[], **weights.progress.settings)
    name = f"Run {session.run_counter + 1} (continues {lost.name})"
    spec = JobSpec(cfg, lost.budget, name=name, session_id=session.token, lesson=lost.lesson,
                   measure=lost.spec.measure, start_from=weights)
    backend.check_admission(spec)
    session.sync()  # the lost run (its last weights) joins the runs first
    session.run_counter += 1
    session.job = backend.submit(spec)
    session.adopted = False
    return session.job
