"""The shipped demo generators: present, loadable, small and drawing the digits they claim."""

import json

import pytest
import torch

from explorer import checkpoints, demos, latent, metrics
from explorer.cli import main
from explorer.progress import Status

MAX_TOTAL_BYTES = 24 * 2**20  # two MLPs of ~4 MB and the wider conditional one (~10 MB), with their discriminators


@pytest.fixture(scope="module")
def shipped():
    return {name: demos.load(name) for name in demos.DEMOS}


def test_the_ui_demo_names_exist():
    assert {"three", "conditional", "latent-2d"} <= set(demos.DEMOS)
    assert demos.DEMOS["conditional"].config().conditional
    assert demos.DEMOS["latent-2d"].config().latent_dim == 2


def test_every_demo_file_is_shipped():
    missing = [name for name in demos.DEMOS if not demos.path(name).is_file()]
    assert not missing, f"run `python -m explorer build-demos --only {','.join(missing)}`"
    assert demos.available() == list(demos.DEMOS.values())
    record = json.loads((demos.MODELS / demos.RECORD).read_text())
    assert set(demos.DEMOS) <= set(record)


@pytest.mark.parametrize("name", list(demos.DEMOS))
def test_each_demo_loads_with_its_config_and_discriminator(shipped, name):
    ck, demo = shipped[name], demos.DEMOS[name]
    assert ck.cfg == demo.config()
    assert ck.D is not None, "the app shows D's score, so the demo must keep its discriminator"
    assert ck.meta["demo"] == name and ck.meta["status"] == Status.FINISHED
    # A 2-latent demo keeps one of its checked steps (explorer.demos.BestMap); any other, its last.
    steps = ck.meta["steps"]
    assert steps % demos.MAP_CHECK_EVERY == 0 and steps <= demo.steps if demo.keep_best_map else steps == demo.steps


def test_demo_files_are_small_together():
    total = sum(demos.path(name).stat().st_size for name in demos.DEMOS)
    assert total < MAX_TOTAL_BYTES, f"demo files take {total / 2**20:.1f} MB"


def test_the_single_digit_demo_draws_threes(shipped):
    ck = shipped["three"]
    images = latent.sample(ck.G, ck.cfg, 500, seed=7)  # not the batch build() scored
    assert metrics.score(images, [3], n=500).read_as >= 0.90


def test_the_conditional_demo_draws_the_digit_asked_for(shipped):
    ck = shipped["conditional"]
    assert ck.cfg.digits == list(range(10))
    images = torch.cat([latent.sample(ck.G, ck.cfg, 100, seed=7, digit=d) for d in range(10)])
    read = metrics.probabilities(images).argmax(1).reshape(10, 100)
    hits = (read == torch.arange(10).reshape(10, 1)).float().mean(1)
    assert hits.min() >= 0.95, f"share read as the digit asked for, per digit: {hits.tolist()}"


def test_the_2d_map_shows_every_digit_as_its_record_says(shipped):
    """A 20x20 sweep of the whole uniform latent square: mostly readable digits, and all ten of them. (The blends
    between a 2-d GAN's digit regions are many, so "readable" means the classifier's top digit is above 50%.)"""
    ck = shipped["latent-2d"]
    lin = torch.linspace(-1, 1, 20)
    z = torch.cartesian_prod(lin, lin)
    probs = metrics.probabilities(latent.generate(ck.G, ck.cfg, z))
    assert (probs.max(1).values > 0.5).float().mean() >= 0.5
    shares = torch.bincount(probs.argmax(1), minlength=10).float() / len(z)
    recorded = json.loads((demos.MODELS / demos.RECORD).read_text())["latent-2d"]["map_shares"]
    assert shares.tolist() == pytest.approx(recorded, abs=1e-4), "the shipped file is not the one its record scored"
    assert shares.min() >= 0.05, f"each digit's share of the map (issue 16 asks 5% each): {shares.tolist()}"


def test_unknown_or_missing_demos_raise_with_a_rebuild_hint(monkeypatch, tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="nope"):
        demos.load("nope")
    monkeypatch.setattr(demos, "MODELS", tmp_path)
    with pytest.raises(checkpoints.CheckpointError, match="build-demos"):
        demos.load("three")
    assert demos.available() == []


TINY = demos.Demo("tiny", "Tiny demo", "for tests", "default",
                  dict(digits=[1, 7], conditional=True, latent_dim=8, g_layers=[32], d_layers=[32], batch_size=16),
                  steps=30)


@pytest.fixture
def tiny_demos(monkeypatch, tmp_path):
    monkeypatch.setattr(demos, "MODELS", tmp_path)
    monkeypatch.setattr(demos, "DEMOS", {"tiny": TINY})
    return tmp_path


def test_build_trains_saves_scores_and_records(tiny_demos):
    lines = []
    (record,) = demos.build(progress=lines.append)
    file = tiny_demos / "demo-tiny.safetensors"
    assert file.is_file() and file.stat().st_mode & 0o777 == 0o644
    ck = demos.load("tiny")
    assert ck.cfg == TINY.config() and ck.D is not None and ck.meta["demo"] == "tiny" and ck.meta["steps"] == 30
    assert record["steps"] == 30 and record["bytes"] == file.stat().st_size
    assert 0 <= record["looks_real"] <= record["read_as"] <= 1
    assert record["frechet"] > record["frechet_floor"] > 0 and "min_digit_share" in record
    assert set(record["asked_digit_read"]) == {"1", "7"}
    saved = json.loads((tiny_demos / "demos.json").read_text())
    assert saved["tiny"]["sha256"] == record["sha256"] and "build-demos" in saved["tiny"]["command"]
    assert any("tiny" in line and "Fréchet" in line for line in lines)


TINY_MAP = demos.Demo("tiny-map", "Tiny 2-latent demo", "for tests", "minimal-tf-2d",
                      dict(digits=[0, 7], g_layers=[32], d_layers=[32]), steps=60, keep_best_map=True)


def test_a_2_latent_demo_ships_the_checked_step_whose_map_shows_its_rarest_digit_most(tiny_demos, monkeypatch):
    monkeypatch.setattr(demos, "DEMOS", {"tiny-map": TINY_MAP})
    monkeypatch.setattr(demos, "MAP_CHECK_EVERY", 20)
    read = []  # (step, rarest share) at each check, as training made them
    shares = demos.map_shares
    monkeypatch.setattr(demos, "map_shares", lambda G, cfg: read.append(shares(G, cfg)) or read[-1])
    (record,) = demos.build(progress=lambda _: None)
    rarest = [min(r[d] for d in (0, 7)) for r in read[:3]]  # the checks at steps 20, 40 and 60
    assert record["trained_steps"] == 60 and record["steps"] == 20 * (1 + rarest.index(max(rarest)))
    assert record["steps"] == 40  # neither the first check nor the end (what this seed's run draws)
    ck = demos.load("tiny-map")
    assert ck.meta["steps"] == record["steps"] and ck.meta["status"] == "finished"
    assert record["map_shares"] == [round(x, 4) for x in shares(ck.G, ck.cfg)]  # the file is that step's G


def test_build_is_deterministic(tiny_demos):
    demos.build(progress=lambda _: None)
    first = demos.load("tiny").G.state_dict()
    demos.build(progress=lambda _: None)
    second = demos.load("tiny").G.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_build_demos_cli(tiny_demos, capsys):
    assert main(["build-demos", "--only", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "summary:" in out and "tiny: 30 steps" in out
    assert main(["build-demos", "--only", "tiny,nope"]) == 2
    assert "nope" in capsys.readouterr().err
