"""What a Ray job's poll carries (explorer/app/ray_actor.py, no cluster needed): only what the server does not hold
yet; the server puts the rest back from what it has."""

import dataclasses

import torch

from explorer.app.ray_actor import fill, reading_key, snapshot_key, thin
from explorer.config import Budget
from explorer.progress import Snapshot
from explorer.trainer import Trainer
from tiny import tiny


def test_a_poll_carries_only_new_snapshots_and_readings_and_the_server_fills_in_the_rest(digits):
    trainer = Trainer(tiny(snapshot_every=5), digits, measure=True)
    trainer.run(Budget("steps", 10))
    old = trainer.state()
    trainer.run(Budget("steps", 20))
    new = trainer.state()
    shots = {snapshot_key(s) for s in old.snapshots}
    thinned = thin(new, shots, {reading_key(r) for r in old.readings})
    fresh = [s for s in new.snapshots if snapshot_key(s) not in shots]  # new ones, and old ones that let maps go
    assert len(fresh) < len(new.snapshots)
    assert [s for s in thinned.snapshots if isinstance(s, Snapshot)] == fresh
    assert sum(not isinstance(r, tuple) for r in thinned.readings) == len(new.readings) - len(old.readings)
    whole = fill(thinned, old)
    assert [s.step for s in whole.snapshots] == [s.step for s in new.snapshots]
    assert all(torch.equal(a.images, b.images) for a, b in zip(whole.snapshots, new.snapshots))
    assert whole.readings == new.readings and whole.history == new.history


def test_a_snapshot_that_let_its_push_maps_go_travels_again(digits):
    trainer = Trainer(tiny(snapshot_every=5), digits)
    trainer.run(Budget("steps", 5))
    held = trainer.state()  # the newest snapshot with D's push maps
    assert held.snapshots[-1].push is not None
    without = dataclasses.replace(held.snapshots[-1], push=None, verdicts=None)
    progress = dataclasses.replace(held, snapshots=(*held.snapshots[:-1], without))  # the actor's, later
    thinned = thin(progress, {snapshot_key(s) for s in held.snapshots}, set())
    assert isinstance(thinned.snapshots[-1], Snapshot)  # the server's copy still has maps the actor's has not
    assert fill(thinned, held).snapshots[-1].push is None
