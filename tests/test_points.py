"""Latent points as links (explorer/app/points.py): what a link carries, and reading it back safely."""

import torch

from explorer.app.points import MAX_Z_TEXT, OWN, parse_digit, parse_z, point_params
from explorer.app.runs import Run
from tiny import tiny


def test_a_point_link_round_trips_to_three_decimals():
    z = torch.tensor([0.12345, -1.5, 2.0])
    run = Run("demo", tiny(latent_dim=3, conditional=True, digits=[4, 7]), None, None, {"demo": "three"},
              source="demo")
    params = point_params(run, z, 7)
    assert params == {"z": "0.123,-1.500,2.000", "digit": "7", "model": "three"}
    parsed, problem = parse_z(params["z"], 3)
    assert problem is None and torch.allclose(parsed, z, atol=5e-4)
    assert parse_digit(params["digit"], run.cfg) == (7, None)


def test_a_trained_runs_point_link_says_its_model_is_ones_own():
    run = Run("Run 1", tiny(latent_dim=2), None, None, {})
    assert point_params(run, torch.zeros(2), None)["model"] == OWN


def test_bad_points_give_plain_reasons_without_allocating():
    assert parse_z("1,2", 3)[1] == "z: the point has 2 numbers, but this generator's latent space has 3."
    assert parse_z("1,x,3", 3)[1] == "z: the point must be numbers separated by commas."
    assert "not a finite number" in parse_z("1,inf,3", 3)[1]
    z, problem = parse_z("0," * MAX_Z_TEXT, 3)  # refused by its length, before any split
    assert z is None and "too long" in problem
    cfg = tiny(conditional=True, digits=[4, 7])
    assert parse_digit("5", cfg)[0] is None and "not one of this generator's digits" in parse_digit("5", cfg)[1]
    assert parse_digit("5", tiny()) == (None, None)  # an unconditional generator takes no digit
