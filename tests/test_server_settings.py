"""Every GAN_EXPLORER_* setting is checked when the server starts (explorer.app.server_settings): each bad value
gets a sentence naming the setting and what it accepts, and a database password is never repeated."""

import pytest

from explorer.app import server_settings

BAD = [
    ("GAN_EXPLORER_MAX_MEMORY", "8X", "is not a size (e.g. 8G, 6000M)"),
    ("GAN_EXPLORER_MAX_JOBS", "two", "is not a whole number"),
    ("GAN_EXPLORER_MAX_JOBS", "0", "must be at least 1"),
    ("GAN_EXPLORER_MAX_RUN_SECONDS", "-5", "must be at least 1"),
    ("GAN_EXPLORER_SESSION_GRACE", "soon", "is not a number"),
    ("GAN_EXPLORER_TORCH_THREADS", "1.5", "is not a whole number"),
    ("GAN_EXPLORER_MAX_QUEUE", "many", "is not a whole number"),
    ("GAN_EXPLORER_SESSION_KEEP", "nan", "must be at least 0"),
    ("GAN_EXPLORER_DATABASE_URL", "mysql://db/runs", "works on SQLite or PostgreSQL"),
    ("GAN_EXPLORER_DATABASE_URL", "runs.sqlite", "is not a database URL"),
    ("GAN_EXPLORER_DATABASE_URL", "sqlite://", "in-memory SQLite"),
    ("GAN_EXPLORER_KEEP_DAYS", "0", "is not a number of days above 0"),
    ("GAN_EXPLORER_MAX_STORE", "lots", "is not a size (e.g. 2G, 500M)"),
    ("GAN_EXPLORER_DATA", "/no/such/folder", "is not a folder on this server"),
    ("GAN_EXPLORER_RAY_ADDRESS", "head node:6379", "is not a Ray address"),
    ("GAN_EXPLORER_RAY_CPUS_PER_JOB", "0", "must be at least 0.01"),
    ("GAN_EXPLORER_RAY_GPUS_PER_JOB", "-1", "must be at least 0"),
    ("GAN_EXPLORER_MAX_JOB", "4", "is not a setting of GAN Explorer (a typo?)"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_value_is_named_with_what_the_setting_accepts(name, value, says):
    found = server_settings.problems({name: value})
    assert len(found) == 1, found
    assert name in found[0] and says in found[0], found[0]


def test_a_file_where_a_folder_belongs(tmp_path):
    file = tmp_path / "cache"
    file.write_text("")
    found = server_settings.problems({"GAN_EXPLORER_CACHE": str(file)})
    assert len(found) == 1 and "GAN_EXPLORER_CACHE" in found[0] and "takes a folder" in found[0], found


def test_every_problem_is_reported_at_once_and_good_settings_pass(tmp_path):
    good = {"GAN_EXPLORER_MAX_JOBS": "4", "GAN_EXPLORER_MAX_MEMORY": "8G", "GAN_EXPLORER_MAX_RUN_SECONDS": "900",
            "GAN_EXPLORER_SESSION_GRACE": "30", "GAN_EXPLORER_TORCH_THREADS": "1", "GAN_EXPLORER_MAX_QUEUE": "0",
            "GAN_EXPLORER_SESSION_KEEP": "1800", "GAN_EXPLORER_HOME": str(tmp_path / "home"),
            "GAN_EXPLORER_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.sqlite'}", "GAN_EXPLORER_KEEP_DAYS": "0.5",
            "GAN_EXPLORER_MAX_STORE": "500M", "GAN_EXPLORER_DATA": str(tmp_path),
            "GAN_EXPLORER_CACHE": str(tmp_path / "cache"), "GAN_EXPLORER_RAY_ADDRESS": "ray://head:10001",
            "GAN_EXPLORER_RAY_CPUS_PER_JOB": "2", "GAN_EXPLORER_RAY_GPUS_PER_JOB": "0.25",
            "GAN_EXPLORER_RAY_NAMESPACE": "class-7b", "GAN_EXPLORER_MAX_JOBS_EXTRA": "", "PATH": "/bin"}
    assert server_settings.problems({**good, "GAN_EXPLORER_MAX_JOBS_EXTRA": "1"}) == [
        "GAN_EXPLORER_MAX_JOBS_EXTRA is not a setting of GAN Explorer (a typo?); the settings are "
        + ", ".join(sorted(server_settings.SETTINGS))]
    assert server_settings.problems(good) == []
    both = server_settings.problems({**good, "GAN_EXPLORER_MAX_MEMORY": "8X", "GAN_EXPLORER_KEEP_DAYS": "-1"})
    assert [p.split("=")[0] for p in both] == ["GAN_EXPLORER_KEEP_DAYS", "GAN_EXPLORER_MAX_MEMORY"]


def test_a_database_password_is_never_repeated():
    for url in ("mysql://teacher:s3cret-pw@db/runs", "postgresql://teacher:s3cret-pw@db:notaport/runs"):
        found = server_settings.problems({"GAN_EXPLORER_DATABASE_URL": url})
        assert found and "GAN_EXPLORER_DATABASE_URL" in found[0], found
        assert "s3cret-pw" not in " ".join(found)
