"""On the Beanstalk path deploybot keeps only the images live environments run and restores may need,
on its own engine and in the registry.

Every build leaves its image on the engine after the push; the registry keeps the pushed copy,
so the local one is only a cache. Each reaper pass removes this repository's local images except
those of the commits live environments run, those of environments torn down within
DEPLOYBOT_RESTORE_WINDOW (a restore deploys their commit again), and those tagged within the deploy
timeout (a deploy may be about to push or reuse them). Layers no image uses any more go with them, which is why
a sweep waits for a moment when no build runs (see deployer/build/slots.py).

In the registry (ECR: see deployer/build/registry.py) the same rule deletes deploybot's tags, also keeping
the commits unfinished deploys have resolved: a deploy may reuse an image pushed days ago.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from deployer.build.images import ImageBuilder
from deployer.naming import version_commit
from deployer.build.registry import TAG_PREFIX, Registry
from deployer.build.slots import BuildSlots


class ImageSweep:
    def __init__(self, builder: ImageBuilder, registry: Registry, running: Callable[[], Iterable[str | None]],
                 grace: timedelta, clock: Callable[[], datetime],
                 in_flight: Callable[[], Iterable[str]] = lambda: (), slots: BuildSlots | None = None,
                 restorable: Callable[[], Iterable[str]] = lambda: ()) -> None:
        self._builder = builder
        self._registry = registry
        self._running = running  # the version labels live environments run
        self._in_flight = in_flight  # the commits unfinished deploys have resolved
        self._restorable = restorable  # the commits of environments that may still be restored
        self._grace = grace
        self._clock = clock
        self._slots = slots or BuildSlots(1)  # the deployer's, so that no build runs during a sweep

    def _live(self) -> set[str]:
        """12-character commits that stay: what live environments run and what restores would deploy."""
        running = {version_commit(label) for label in self._running() if label}
        return {sha for sha in running if sha} | {sha[:12] for sha in self._restorable()}

    def sweep(self) -> int:
        """Remove what nobody needs from the engine; returns how many images were untagged
        (none while a build runs: the next pass sweeps)."""
        live = self._live()
        repository = self._registry.repository
        with self._slots.idle() as quiet:
            if not quiet:
                return 0
            keep = {tag for tag in self._builder.local_tags(repository)  # tags not deploybot's stay too
                    if not tag.startswith(TAG_PREFIX) or tag.removeprefix(TAG_PREFIX)[:12] in live}
            return self._builder.prune(repository, keep, tagged_before=self._clock() - self._grace)

    def sweep_registry(self) -> int:
        """Delete from the registry the images no live environment runs, no deploy is using and no restore needs."""
        # In flight first: a deploy that resolves its commit after this read and reuses an image
        # pushed long ago is the one window left; its image is then pushed again by the next deploy.
        keep = {sha[:12] for sha in self._in_flight()} | self._live()
        return self._registry.sweep(keep, pushed_before=self._clock() - self._grace)
