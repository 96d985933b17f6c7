"""On the Beanstalk path the bot's own Docker engine keeps only what live environments run.

Every build leaves its image on the engine after the push; the registry keeps the pushed copy,
so the local one is only a cache. Each reaper pass removes this repository's local images except
those of the commits live environments run, and those tagged within the deploy timeout (a deploy
may be about to push or reuse them). Layers no image uses any more go with them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from deployer.images import ImageBuilder
from deployer.naming import version_commit
from deployer.registry import TAG_PREFIX, Registry


class ImageSweep:
    def __init__(self, builder: ImageBuilder, registry: Registry, running: Callable[[], Iterable[str | None]],
                 grace: timedelta, clock: Callable[[], datetime]) -> None:
        self._builder = builder
        self._registry = registry
        self._running = running  # the version labels live environments run
        self._grace = grace
        self._clock = clock

    def sweep(self) -> int:
        """Remove what nobody needs; returns how many images were untagged."""
        live = {version_commit(label) for label in self._running() if label}
        repository = self._registry.repository
        keep = {tag for tag in self._builder.local_tags(repository)  # tags not deploybot's stay too
                if not tag.startswith(TAG_PREFIX) or tag.removeprefix(TAG_PREFIX)[:12] in live}
        return self._builder.prune(repository, keep, tagged_before=self._clock() - self._grace)
