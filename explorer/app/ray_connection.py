"""Joining a Ray cluster, and what goes wrong doing it, in plain words (explorer.app.ray_backend uses it).

What Ray 2.60 does by itself, measured here (and why each check below exists):
- Nothing listens at the address: `ray.init` retries for about 14 minutes before its ConnectionError. A TCP
  connect first says so at once.
- The head has another token: a ConnectionError after 20 one-second retries, the reason only in its cause's text
  ("InvalidAuthToken"). The retries are cut to a few (RAY_gcs_server_port_wait_time_s, read by ray.init).
- No token on this server: ray.exceptions.AuthenticationError at once.
- The head runs without token authentication (a plain `ray start --head`): `ray.init` succeeds, and the first
  actor dies before it runs (the head calls back without a token, and this server refuses it). So a probe actor
  is started after joining; its death is that mistake.
- The head goes away later: some calls never return (ray.nodes, cluster_resources), and about 60 s later Ray's
  core worker ends this whole process ("GCS may have been killed"). RAY_gcs_rpc_server_reconnect_timeout_s is
  raised below so that it does not; `head_answers` is the cheap probe the backend polls instead of asking Ray.
  (Ray also ends a process whose own node's object store went: that node must outlive the head.)
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from .backend import BackendUnavailable

# Read when ray is imported, so set before any module of the app imports it:
# - token authentication on (Ray's default is off);
# - no automatic `ray.init()` on a Ray call while this server is not connected (after its head went away): that
#   would start a new, local Ray instance, and train on this server's machine without a word.
# - no end of this whole process when the cluster's head has been gone a minute (Ray's default, 60 s): a call
#   that waits on the head then waits for it to come back, while the pages go on (the backend's head watch).
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(7 * 24 * 3600))

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
# What the workers need of the repository (Ray zips it, honouring .gitignore, once per content).
EXCLUDES = ["tests", "test-output", "runs", ".hypothesis", ".ruff_cache"]
DEFAULT_PORT = 6379  # Ray's, for an address without one
PROBE_SECONDS = 60.0  # for the probe actor: it may wait for the working directory's upload and a worker's start
TOKEN_HELP = ("Ray's token authentication must be on, with one token everywhere: `ray get-auth-token --generate` "
              "on the head, the same token on every machine and app server (~/.ray/auth_token or RAY_AUTH_TOKEN), "
              "and RAY_AUTH_MODE=token in the environment of every `ray start` (see the README's Deployment section)")
WAITING = "Until then this server trains nothing; it does not fall back to training on its own threads."


def host_port(address: str) -> tuple[str, int] | None:
    """The head's host and port for "HOST:PORT", "HOST" or "ray://HOST:PORT"; None for "auto" (Ray finds it)."""
    text = address.strip().removeprefix("ray://")
    if text == "auto" or not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text.strip("[]"), DEFAULT_PORT
    return host.strip("[]"), int(port)


def head_answers(where: tuple[str, int], timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at the head's address now."""
    try:
        with socket.create_connection(where, timeout=timeout):
            return True
    except OSError:
        return False


def connect(address: str, namespace: str):
    """Join the cluster at `address` with token authentication on, and check that its head uses it too.
    Returns (ray, whether this call joined it, the head's (host, port) to watch). BackendUnavailable, saying what
    is wrong and what to do, when it cannot be joined."""
    import ray

    if ray.is_initialized():
        return ray, False, watched(ray, address)
    where = host_port(address)
    if where is not None and not head_answers(where, timeout=3.0):
        raise BackendUnavailable(f"Nothing answers at the Ray address {address} (GAN_EXPLORER_RAY_ADDRESS): start "
                                 f"the cluster's head there (`ray start --head`, with token authentication), or "
                                 f"fix the address. {WAITING}")
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "3")  # a refused token: 3 retries, not 20
    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"working_dir": str(REPO), "excludes": EXCLUDES})
    except ray.exceptions.AuthenticationError:
        raise BackendUnavailable(f"This server has no Ray token to join the cluster at {address}. {TOKEN_HELP}. "
                                 f"{WAITING}") from None
    except (ConnectionError, RuntimeError) as e:
        reason = f"{e} {e.__cause__ or ''}"
        if "InvalidAuthToken" in reason or "Unauthenticated" in reason:
            raise BackendUnavailable(f"The Ray cluster at {address} refused this server's token: it was started "
                                     f"with another one. {TOKEN_HELP}. {WAITING}") from None
        raise BackendUnavailable(f"This server cannot join the Ray cluster at {address} ({str(e).strip()}): check "
                                 f"that its head is running and reachable from here. {WAITING}") from None
    try:
        probe(ray, address)
    except BaseException:
        ray.shutdown()
        raise
    return ray, True, watched(ray, address)


def watched(ray, address: str) -> tuple[str, int] | None:
    """The head's (host, port) to probe while connected: the cluster's own record of it where there is one."""
    try:
        return host_port(ray.get_runtime_context().gcs_address)
    except Exception:  # a ray:// client connection has no GCS address of its own
        return host_port(address)


class _Probe:
    def ready(self) -> bool:
        return True


def probe(ray, address: str) -> None:
    """Start one actor that needs no CPU and ask it something: a head without token authentication kills it."""
    actor = ray.remote(num_cpus=0)(_Probe).remote()
    try:
        ray.get(actor.ready.remote(), timeout=PROBE_SECONDS)
    except ray.exceptions.GetTimeoutError:
        raise BackendUnavailable(f"The Ray cluster at {address} did not start a test actor within "
                                 f"{PROBE_SECONDS:.0f} s: check that its machines are up and have this project's "
                                 f"requirements installed. {WAITING}") from None
    except ray.exceptions.RayError:
        raise BackendUnavailable(f"The Ray cluster at {address} runs without token authentication (a plain `ray "
                                 f"start --head`): its head could not call back to this server, which requires a "
                                 f"token, and an open cluster would let anyone on the network run code on it. "
                                 f"{TOKEN_HELP}. {WAITING}") from None
    finally:
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            log.debug("the probe actor was already gone")
