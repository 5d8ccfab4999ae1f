"""The benchmark's arithmetic and its reference setup (the timings themselves live in `python -m explorer bench`)."""

import pytest

from explorer import bench
from explorer.bench import overhead, throughput
from explorer.config import GANConfig
from explorer.nets import build

pytestmark = pytest.mark.usefixtures("app_services")  # `bench latent` drives the app's pages through AppTest


def test_flops_per_image_counts_each_matrix_product_from_the_layer_sizes():
    # G 2-3-784: 2*3 + 3*784 = 2358 multiply-adds; D 784-4-1: 784*4 + 4 = 3140
    assert throughput.flops_per_image(2, [3], [4]) == 2 * (3 * 2358 + 8 * 3140)


def test_the_reference_setup_is_the_peer_scripts_architecture():
    cfg = GANConfig.from_dict(throughput.REFERENCE)
    G, D = build(cfg)
    sizes = [m.out_features for m in G.modules() if hasattr(m, "out_features")]
    assert sizes == [128, 256, 512, 1024, 784] and cfg.latent_dim == 100 and cfg.batch_size == 64
    assert [m.out_features for m in D.modules() if hasattr(m, "out_features")] == [512, 256, 1]


def test_gemm_rate_is_measured_not_assumed(monkeypatch):
    # A 2-core CPU does 1e10 to 1e12 FLOP/s (a busy one measured 2.7e8 while other work ran); the rate must come
    # from the products actually done in the time.
    rate = throughput.gemm_flops(size=128, seconds=0.2)
    assert 1e7 < rate < 1e12
    ticks = iter(range(10**6))  # a fake clock, each reading 1 s later: one timed product fits in 2 s
    monkeypatch.setattr(throughput.time, "perf_counter", lambda: next(ticks))
    assert throughput.gemm_flops(size=128, seconds=2) == 2 * 128**3 / 3  # one product over three ticks


def test_the_app_turns_off_streamlits_garbage_collection_after_each_script_run(monkeypatch, tmp_path):
    # The app's config file, as `streamlit run` reads it from the repository root. With it on, each
    # page poll held the GIL for a full collection (0.4 s with torch loaded) and training starved.
    assert overhead.post_script_gc("config") is False
    from streamlit import config as st_config

    assert st_config.get_option("runner.postScriptGC") is False  # Streamlit's own reader agrees
    monkeypatch.chdir(tmp_path)  # bench may run from anywhere and still reads the app's file
    assert overhead.post_script_gc("config") is False
    assert overhead.post_script_gc("on") is True and overhead.post_script_gc("off") is False


def test_a_bare_bench_runs_each_benchmark_and_gathers_their_json(monkeypatch, tmp_path, capsys):
    import json

    from explorer.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "ALL", (("latent", ["--repeats", "1", "--out", "lat.json"]),
                                       ("throughput", ["--seconds", "0.3", "--rounds", "1", "--peer", "missing.py"])))
    assert main(["bench"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert set(report) == {"latent", "throughput"} and report["latent"]["demo"] == "three"
    assert report["throughput"]["peer_batch64_images_per_second"] is None  # no peer script: no made-up figure
    assert report["throughput"]["ours_batch64"]["images_per_second"] > 0
    out = capsys.readouterr().out
    assert "== bench latent ==" in out and "wrote bench.json" in out


def test_bench_class_writes_the_classrooms_figures(monkeypatch, tmp_path):
    import json

    from explorer.cli import main

    monkeypatch.setenv("GAN_EXPLORER_MAX_JOBS", "1")  # one slot: the second session waits in the queue
    out = tmp_path / "class.json"
    assert main(["bench", "class", "--sessions", "2", "--seconds", "0.5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"backend", "sessions", "jobs_finished", "jobs_refused", "jobs_lost", "wall_seconds",
            "median_queue_wait_seconds", "max_queue_wait_seconds", "per_job_images_per_second",
            "server_peak_rss_mb"} <= set(report)
    assert (report["backend"], report["sessions"], report["jobs_finished"], report["jobs_refused"],
            report["jobs_lost"]) == ("threads", 2, 2, 0, 0)
    assert report["max_queue_wait_seconds"] > 0.4 and report["per_job_images_per_second"] > 0
    assert report["server_peak_rss_mb"] > 100 and report["wall_seconds"] >= 1.0


def test_bench_class_counts_a_refused_student_and_goes_on():
    from explorer.app.limits import Limits
    from explorer.app.threads import ThreadBackend
    from explorer.bench.classroom import simulate

    backend = ThreadBackend(Limits(max_jobs=1, max_queue=1), watch_every=None, set_threads=False)
    try:  # one trains, one waits, and the third student finds the line full
        report = simulate(backend, sessions=3, seconds=0.3, digits=[3])
    finally:
        backend.close(wait=10)
    assert (report["jobs_refused"], report["jobs_finished"], report["jobs_lost"]) == (1, 2, 0)
    assert report["max_queue_wait_seconds"] > 0.2


@pytest.mark.slow
def test_bench_store_writes_the_run_stores_figures(tmp_path):
    # Tiny: 2 sessions of 2 runs in a fresh SQLite store, one restart of the real app server read by Chromium, one
    # second per overhead round (too short for a meaningful overhead: only its presence and sign of life are checked).
    import json
    import math

    from browser_support import require_chromium

    from explorer.cli import main

    require_chromium()
    out = tmp_path / "store.json"
    assert main(["bench", "store", "--sessions", "2", "--runs", "2", "--train-steps", "20", "--repeats", "1",
                 "--restarts", "1", "--seconds", "1", "--rounds", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"machine", "database", "save_seconds_median", "load_seconds_median", "restart_first_page_seconds",
            "training_overhead_percent", "restart_healthy_seconds", "warm_server_page_seconds", "noise_percent",
            "stored_runs"} <= set(report)
    assert (report["database"], report["sessions"], report["runs_per_session"], report["stored_runs"]) == (
        "sqlite", 2, 2, 4)
    assert "://" not in json.dumps(report)  # no database URL (nor a password) in the figures
    assert 0 < report["save_seconds_median"] < 30 and 0 < report["load_seconds_median"] < 30
    assert report["weights_bytes"] > 10**6 and report["store_megabytes"] > 4 * report["weights_bytes"] / 2**20
    assert 0 < report["restart_healthy_seconds"] <= report["restart_first_page_seconds"] < 120
    assert 0 < report["warm_server_page_seconds"] < 120
    assert math.isfinite(report["training_overhead_percent"]) and report["noise_percent"] >= 0
    assert math.isfinite(report["training_cpu_overhead_percent"])
    assert report["images_per_second_without_saver"] > 0 and report["images_per_second_with_saver"] > 0


def test_bench_board_times_the_boards_refreshes_while_students_post(tmp_path):
    # Tiny: 3 students posting every 0.2 s through 2 writers, 3 refreshes, in a fresh SQLite store.
    import json

    from explorer.cli import main

    out = tmp_path / "board.json"
    assert main(["bench", "board", "--students", "3", "--writers", "2", "--refreshes", "3", "--refresh-every", "0.2",
                 "--post-every", "0.2", "--head-start", "80", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"machine", "refresh_ms_median", "refresh_ms_p95", "refresh_ms_max", "refresh_cpu_ms_median",
            "part_ms_median", "under_target", "posts", "post_ms_median", "load_average_1min"} <= set(report)
    assert (report["database"], report["students"], report["writers"], report["refreshes"]) == ("sqlite", 3, 2, 3)
    assert report["runs_on_board"] == 3 and report["target_ms"] == 200
    assert 0 < report["refresh_ms_median"] <= report["refresh_ms_p95"] <= report["refresh_ms_max"]
    assert len(report["refresh_ms_each"]) == 3 and report["first_refresh_ms"] > 0
    assert set(report["part_ms_median"]) == {"get", "board", "table", "grids_read", "png"}
    assert report["posts"] > 3 and report["post_errors"] == 0  # the students moved on while the board was read
    assert report["steps_at_end_median"] > 80
    assert "://" not in json.dumps(report)  # no database URL in the figures
