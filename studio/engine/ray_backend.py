"""Running the engine's queue on Ray actors: one queue, many GPUs (or CPU slots), many machines.

``python main.py engine --ray [ADDRESS]`` keeps the engine's API, queue, priorities and
events, but instead of one worker process it dispatches jobs to Ray actors, one per GPU
(or per ``cpus_per_actor`` CPUs) across the cluster. Each actor hosts the same
``LocalRunner`` a worker does, so plugins are the same code, and each has its own model
cache. Routing follows Ray Serve's model multiplexing: a job goes to a free actor that
already holds one of the models its parameters name, otherwise to the least-loaded free
actor; a batch of jobs fans out over every free actor at once.

Progress, previews and text stream back by polling the actor (a threaded actor answers
``events()`` and ``cancel()`` while ``run()`` executes). Outputs come back as artefact
bytes and are stored by the engine, and inputs are shipped to the actor with the job, so an
actor on another machine needs no shared artefact store (it does need the plugins and the
model files at the same paths). An actor that dies fails its job over to another actor once,
then fails it; a replacement actor is started and the queue goes on.

Ray is an optional extra (``pip install .[cluster]``); nothing here is imported on the local path.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engine.config import EngineConfig
from studio.engine.jobs import Job, JobQueue, Publish
from studio.engine.protocol import EngineEvent, JobRunner, JobState, PluginFailure, StartedEvent
from studio.engine.worker import config_from_dict, config_to_dict

POLL_SECONDS = 0.1
#: read by OpenMP, MKL, OpenBLAS and torch when they start: set before any plugin imports them
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MAX_ATTEMPTS = 2  # a job whose actor died is tried once more on another actor


class RayUnavailable(RuntimeError):
    pass


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("the Ray backend needs the cluster extra: pip install 'studio[cluster]' (ray==2.60.0)") from None
    return ray


# --------------------------------------------------------------------------- actor side


class StudioActor:
    """Runs jobs through a ``LocalRunner`` in a Ray actor process (its own model cache)."""

    def __init__(self, config_data: dict[str, Any], name: str, cpus: float = 1.0) -> None:
        import os
        import platform

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # As many compute threads as the CPUs Ray gave this actor, whatever the driver's
        # environment says: two actors with two threads each on two cores fight for them.
        self.threads = max(1, int(cpus))
        for variable in THREAD_VARIABLES:
            os.environ[variable] = str(self.threads)
        from studio.engine.runner import LocalRunner

        self.name = name
        self.node = platform.node()
        self.runner = LocalRunner(config_from_dict(config_data))
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def ready(self) -> dict[str, Any]:
        import os

        import ray

        context = ray.get_runtime_context()
        return {
            "name": self.name,
            "node": self.node,
            "node_id": context.get_node_id(),
            "address": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "device": self.runner.device.to_dict(),
        }

    def run(self, job_id: str, generator: str, params: dict[str, Any], seed: int | None, kind: str, inputs: list[Any]) -> dict[str, Any]:
        """The job's result with the events not yet fetched, so the engine needs no further call."""
        self._limit_torch_threads()
        result = self._run(job_id, generator, params, seed, kind, inputs)
        result["events"] = self.events(job_id, final=True)
        return result

    def _limit_torch_threads(self) -> None:
        import sys

        torch = sys.modules.get("torch")  # only once a plugin has imported it
        if torch is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def threads_in_use(self) -> dict[str, Any]:
        import os
        import sys

        torch = sys.modules.get("torch")
        return {
            "env": {variable: os.environ.get(variable) for variable in THREAD_VARIABLES},
            "torch": torch.get_num_threads() if torch is not None else None,
        }

    def _run(self, job_id: str, generator: str, params: dict[str, Any], seed: int | None, kind: str, inputs: list[Any]) -> dict[str, Any]:
        from studio.core.errors import Cancelled, StudioError
        from studio.engine.plugin_host import PluginUnavailable

        with self._lock:
            cancel = self._cancels.setdefault(job_id, threading.Event())
            self._events.setdefault(job_id, [])
        for artifact in inputs:
            self.runner.store.put(artifact)

        def on_event(event: dict[str, Any]) -> None:
            with self._lock:
                self._events.setdefault(job_id, []).append(event)

        try:
            if cancel.is_set():
                raise Cancelled()
            if kind == "command":
                from studio.engine.commands import run_command

                result = run_command(self.runner, generator, params, on_event=on_event, cancel=cancel)
            else:
                result = self.runner.run(generator, params, seed, on_event=on_event, cancel=cancel, job_id=job_id)
        except Cancelled:
            return {"state": "cancelled"}
        except PluginUnavailable as exc:
            record = self.runner.plugins.record_for(generator)
            failure = None if record is None else (record.id, record.state, record.error, record.traceback)
            return {"state": "failed", "error": str(exc), "traceback": traceback.format_exc(), "plugin_failure": failure}
        except StudioError as exc:
            return {"state": "failed", "error": str(exc), "traceback": traceback.format_exc()}
        except MemoryError:
            self.runner.models.clear()
            return {
                "state": "failed",
                "error": f"{generator} ran out of memory on {self.name}; its model cache was emptied",
                "traceback": traceback.format_exc(),
            }
        except Exception as exc:  # a plugin bug: report it, keep the actor
            return {"state": "failed", "error": f"{generator} failed: {type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)
        return {"state": "done", "artifacts": list(result.artifacts), "record": result.record, "logs": result.logs}

    def events(self, job_id: str, final: bool = False) -> list[dict[str, Any]]:
        """Events since the last call (``final``: and forget the job)."""
        with self._lock:
            pending = self._events.pop(job_id, []) if final else self._events.get(job_id, [])
            if not final and job_id in self._events:  # not after run() has returned them: no stale entry
                self._events[job_id] = []
        return pending

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancels.setdefault(job_id, threading.Event()).set()

    def status(self) -> dict[str, Any]:
        models = self.runner.models
        return {"loaded": models.loaded(), "usage": models.usage(), "stats": models.stats()}

    def unload(self) -> None:
        self.runner.models.clear()


# --------------------------------------------------------------------------- engine side


@dataclass
class ActorSlot:
    """The queue's view of one actor."""

    name: str
    handle: Any
    device: dict[str, Any] = field(default_factory=dict)
    node: str = ""  # the machine's name
    node_id: str = ""  # Ray's node id: two nodes on one machine (or behind one name) stay apart
    address: str = ""  # the node's IP
    pid: int | None = None
    job: Job | None = None
    models: set[str] = field(default_factory=set)  # model paths it has loaded (from job records)
    jobs_run: int = 0
    alive: bool = True

    def runner(self) -> JobRunner:
        return JobRunner(
            kind="ray",
            host=self.node,
            address=self.address,
            node=self.node_id[:8],
            name=self.name,
            device=str(self.device.get("name") or ""),
        )


class RayJobQueue(JobQueue):
    """``JobQueue`` with Ray actors instead of one worker: several jobs run at once."""

    def __init__(
        self,
        config: EngineConfig,
        publish: Publish,
        on_plugin_failure: Callable[[PluginFailure], None],
        plugin_timeout: Callable[[str], float | None] | None = None,
        *,
        address: str | None = None,
        actors: int | None = None,
        cpus_per_actor: float = 1.0,
        store: Any = None,
    ) -> None:
        super().__init__(config, publish, on_plugin_failure, plugin_timeout)
        self.address = address
        self.actor_count = actors
        self.cpus_per_actor = cpus_per_actor
        self.gpus_per_actor = 0.0
        self.store = store
        self.slots: list[ActorSlot] = []
        self._started_ray = False
        self._actor_class: Any = None
        self._serial = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address or None, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
            self._started_ray = True
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if self.actor_count is None:
            if gpus:
                self.actor_count, self.gpus_per_actor = gpus, 1.0
            else:
                self.actor_count = max(1, int(resources.get("CPU", 1) // self.cpus_per_actor))
        self._actor_class = ray.remote(max_concurrency=4, max_restarts=0)(StudioActor)
        with self._lock:
            self.slots = [self._new_slot() for _ in range(self.actor_count)]
        for slot in list(self.slots):
            self._greet(slot)
        self._dispatcher.start()

    def _new_slot(self) -> ActorSlot:
        self._serial += 1
        name = f"actor-{self._serial}"
        options: dict[str, Any] = {"num_cpus": self.cpus_per_actor}
        if self.gpus_per_actor:
            options["num_gpus"] = self.gpus_per_actor
        handle = self._actor_class.options(**options).remote(config_to_dict(self.config), name, self.cpus_per_actor)
        return ActorSlot(name=name, handle=handle)

    def _greet(self, slot: ActorSlot) -> None:
        ray = _ray()
        info = ray.get(slot.handle.ready.remote(), timeout=120)
        slot.device, slot.node, slot.pid = info["device"], info["node"], info["pid"]
        slot.node_id, slot.address = info["node_id"], info["address"]
        self._publish(EngineEvent(state="ready", device=slot.device))

    def close(self) -> None:
        ray = _ray()
        with self._lock:
            self._closed = True
            slots, self.slots = self.slots, []
            self._wake.notify_all()
        for slot in slots:
            try:
                ray.kill(slot.handle)
            except Exception:
                pass
        if self._started_ray:
            ray.shutdown()

    def restart_worker(self) -> bool:
        """Drop every actor's model cache (reload, keep-alive unload) when none is busy."""
        ray = _ray()
        with self._lock:
            if self._closed or any(slot.job is not None for slot in self.slots):
                return False
            slots = list(self.slots)
        for slot in slots:
            try:
                ray.get(slot.handle.unload.remote(), timeout=30)
                slot.models.clear()
            except Exception:
                pass
        return True

    @property
    def worker(self) -> Any:
        return self.slots[0] if self.slots else None

    def worker_status(self, timeout: float = 2.0) -> dict[str, Any] | None:
        ray = _ray()
        loaded: list[dict[str, Any]] = []
        usage: dict[str, int] = {}
        stats: dict[str, int] = {}
        for slot in list(self.slots):
            try:
                status = ray.get(slot.handle.status.remote(), timeout=timeout)
            except Exception:
                continue
            loaded += [dict(entry, actor=slot.name) for entry in status["loaded"]]
            for target, source in ((usage, status["usage"]), (stats, status["stats"])):
                for key, value in source.items():
                    target[key] = target.get(key, 0) + value
        return {"loaded": loaded, "usage": usage, "stats": stats}

    def actors_report(self) -> list[dict[str, Any]]:
        """For ``GET /health``: each actor, its machine, device, models and current job."""
        with self._lock:
            return [
                {
                    "name": s.name,
                    "node": s.node,
                    "node_id": s.node_id,
                    "address": s.address,
                    "pid": s.pid,
                    "device": s.device,
                    "models": sorted(s.models),
                    "job": s.job.id if s.job else None,
                    "jobs_run": s.jobs_run,
                    "alive": s.alive,
                }
                for s in self.slots
            ]

    # ------------------------------------------------------------------ routing

    def choose(self, job: Job, free: list[ActorSlot]) -> ActorSlot:
        """A free actor holding a model the job names, else the least-loaded one."""
        wanted = _model_names(job.params)
        holding = [slot for slot in free if slot.models & wanted]
        pool = holding or free
        return min(pool, key=lambda slot: (len(slot.models) if not holding else 0, slot.jobs_run, slot.name))

    def _dispatch_loop(self) -> None:

        while True:
            with self._lock:
                while not self._closed and (not self._heap or not any(s.job is None and s.alive for s in self.slots)):
                    self._wake.wait(timeout=1.0)
                if self._closed:
                    return
                job = self._pop_queued()
                if job is None:
                    continue
                slot = self.choose(job, [s for s in self.slots if s.job is None and s.alive])
                slot.job = job
                first = job.started is None
                job.state = JobState.RUNNING
                job.started = job.started or time.time()
                job.runner = slot.runner()
            if first:
                self._publish(StartedEvent(job=job.id, plugin=job.generator, runner=job.runner))
            job.logs.append(f"running on {slot.name} ({slot.node}, {slot.device.get('name', '?')})")
            threading.Thread(target=self._run_on, args=(slot, job), name=f"ray-{job.id[:8]}", daemon=True).start()

    def _inputs_for(self, job: Job) -> list[Any]:
        if self.store is None:
            return []
        inputs = []
        for value in job.params.values():
            if isinstance(value, str) and len(value) >= 32 and self.store.has(value):
                inputs.append(self.store.get(value))
        return inputs

    def _run_on(self, slot: ActorSlot, job: Job) -> None:
        ray = _ray()
        deadline = None if not job.timeout else (job.started or time.time()) + job.timeout
        cancel_sent_at: float | None = None
        try:
            ref = slot.handle.run.remote(job.id, job.generator, job.params, job.seed, job.kind, self._inputs_for(job))
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
                if ready:
                    result = ray.get(ref)
                    break
                self._relay(job, ray.get(slot.handle.events.remote(job.id)))
                now = time.time()
                if job.cancel_requested and cancel_sent_at is None:
                    cancel_sent_at = now
                    slot.handle.cancel.remote(job.id)
                if cancel_sent_at is not None and now - cancel_sent_at > self.config.cancel_grace:
                    job.logs.append(f"the plugin ignored the cancel for {self.config.cancel_grace:.0f}s; {slot.name} was ended")
                    ray.kill(slot.handle)
                if deadline is not None and now > deadline and not job.timed_out:
                    job.timed_out = True
                    ray.kill(slot.handle)
        except Exception as exc:  # the actor died (killed, crashed, node lost)
            self._actor_died(slot, job, exc)
            return
        with self._lock:
            # The actor is free now: its next job starts while this one's outputs are stored.
            slot.job = None
            slot.jobs_run += 1
            if result["state"] == "done":
                slot.models |= {entry["path"] for entry in result["record"].get("models", [])}
            self._wake.notify_all()
        self._relay(job, result.get("events", []))
        if result["state"] == "done" and self.store is not None and job.state == JobState.RUNNING:
            for artifact in result["artifacts"]:
                self.store.put(artifact)
        with self._lock:
            if job.state != JobState.RUNNING:
                return
            if result["state"] == "done":
                job.artifacts = [artifact.describe() for artifact in result["artifacts"]]
                job.outputs = [artifact["id"] for artifact in job.artifacts]
                job.record = dict(result["record"], actor=slot.name, node=slot.node, node_id=slot.node_id)
                job.logs.extend(result["logs"])
                self._finish(job, JobState.DONE)
            elif result["state"] == "cancelled":
                self._finish(job, JobState.CANCELLED)
            else:
                job.error, job.traceback = result["error"], result["traceback"]
                if result.get("plugin_failure"):
                    self._on_plugin_failure(PluginFailure(*result["plugin_failure"]))
                self._finish(job, JobState.CANCELLED if job.cancel_requested else JobState.FAILED)

    def _relay(self, job: Job, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self._lock:
            if job.state != JobState.RUNNING:
                return
            for event in events:
                self._on_job_event(job, event)

    def _actor_died(self, slot: ActorSlot, job: Job, exc: Exception) -> None:
        reason = f"{slot.name} on {slot.node or '?'} ended ({type(exc).__name__})"
        replacement = None
        if not self._closed:
            try:
                replacement = self._new_slot()
                self._greet(replacement)
            except Exception:
                replacement = None
        with self._lock:
            slot.alive = False
            slot.job = None
            if slot in self.slots:
                self.slots.remove(slot)
            if replacement is not None and not self._closed:
                self.slots.append(replacement)
            self.worker_restarts += 1
            if job.state == JobState.RUNNING:
                attempts = sum(1 for line in job.logs if line.startswith("running on "))
                if job.timed_out:
                    job.error = f"{job.generator} did not finish within its time limit of {job.timeout:g}s; {slot.name} was ended"
                    self._finish(job, JobState.FAILED)
                elif job.cancel_requested:
                    self._finish(job, JobState.CANCELLED)
                elif attempts < MAX_ATTEMPTS:
                    job.logs.append(f"{reason}; trying the job on another actor")
                    job.state = JobState.QUEUED
                    self._requeue(job)
                else:
                    job.error = f"{reason} while running {job.generator}, twice; the queue goes on"
                    self._finish(job, JobState.FAILED)
            self._wake.notify_all()
        self._publish(EngineEvent(state="restarting", reason=reason))

    def _requeue(self, job: Job) -> None:
        import heapq

        heapq.heappush(self._heap, (-job.priority - 10_000, next(self._order), job.id))  # ahead of the line: it had started
        self._queued_by_priority[job.priority] += 1

    def cancel(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
                return job
            job.cancel_requested = True
            if job.state == JobState.QUEUED:
                self._unqueue(job)
                self._finish(job, JobState.CANCELLED)
            # a running job: its _run_on loop sends the cancel to the actor (and ends it after the grace)
            return job

    def cancel_all(self) -> list[str]:
        with self._lock:
            running = [slot.job for slot in self.slots if slot.job is not None]
        cancelled = super().cancel_all()  # the queued ones (and self._running, unused here)
        for job in running:
            self.cancel(job.id)
        return cancelled + [job.id for job in running if job.id not in cancelled]


def _model_names(params: dict[str, Any]) -> set[str]:
    """Strings in the params that could name a model file, as given and resolved."""
    names: set[str] = set()
    for value in params.values():
        if isinstance(value, str) and value and ("/" in value or "\\" in value or "." in value):
            names.add(value)
            try:
                names.add(str(Path(value).expanduser().resolve()))
            except (OSError, RuntimeError):
                pass
    return names


def use_ray(engine: Any, address: str | None = None, actors: int | None = None, cpus_per_actor: float = 1.0) -> RayJobQueue:
    """Swap an engine's local job queue for a Ray one before it serves."""
    _ray()  # a clear message now when Ray is missing
    queue = RayJobQueue(
        engine.config,
        engine.bus.publish,
        engine._on_plugin_failure,
        engine._plugin_timeout,
        address=address,
        actors=actors,
        cpus_per_actor=cpus_per_actor,
        store=engine.store,
    )
    engine.jobs = queue
    return queue
