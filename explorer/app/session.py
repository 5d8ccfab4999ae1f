"""One browser session's GAN Explorer state, without Streamlit: its training job, the runs it finished or
uploaded (the last MAX_RUNS), and the current run, whose generator the latent pages explore."""

from __future__ import annotations

from ..config import Budget, GANConfig
from .jobs import Backend, Job, JobSpec
from .runs import Run

MAX_RUNS = 6  # runs kept per session; each holds a generator and a discriminator in memory


class Session:
    def __init__(self, session_id: str = ""):
        self.session_id = session_id
        self.job: Job | None = None
        self.runs: list[Run] = []
        self.current: Run | None = None
        self.run_counter = 0
        self.adopted = False  # the job's run has joined `runs`

    # ---- the job -----------------------------------------------------------------------------
    def start(self, backend: Backend, cfg: GANConfig, budget: Budget, lesson: str = "", fix_of: str = "") -> Job:
        """Check the setup now (ConfigError or DataError, before anything is queued), then submit it as this
        session's one job. `lesson` names the failure-mode lesson the run shows; `fix_of`, the run whose fix
        it tries."""
        name = f"Run {self.run_counter + 1}" + (" (the fix)" if fix_of else "")
        spec = JobSpec(cfg, budget, name=name, session_id=self.session_id, lesson=lesson, fix_of=fix_of)
        spec.check()
        backend.check_admission(spec)  # Refused (a ConfigError): it could never fit, or the queue is full
        self.reset_job()
        self.run_counter += 1
        self.job = backend.submit(spec)
        self.adopted = False
        return self.job

    def reset_job(self) -> None:
        if self.job is not None:
            self.job.stop()
        self.job = None

    def sync(self) -> bool:
        """Once the job has ended, its run joins the runs and becomes current. True when that happened now."""
        if self.job is None or not self.job.done or self.adopted:
            return False
        self.adopted = True
        run = Run.from_job(self.job)
        if run is None:
            return False
        self.add_run(run)
        return True

    # ---- runs and the current model ---------------------------------------------------------
    def add_run(self, run: Run, make_current: bool = True) -> None:
        kept = [r for r in self.runs if r is not run][-(MAX_RUNS - 1):]
        self.runs = [*kept, run]
        if make_current or self.current not in self.runs:
            self.current = run

    def set_current(self, run: Run) -> None:
        self.current = run

    def find(self, name: str) -> Run | None:
        return next((r for r in self.runs if r.name == name), None)
