"""prometheus_client's metric types with a faster `labels()`, shared by the metric modules."""

from __future__ import annotations

from typing import Any

import prometheus_client


class _CachedLabels:
    """`labels()` answered from a dict of the children already made. prometheus_client's
    own `labels()` validates, converts every value with `str()` and takes a lock on each
    call; the pipeline calls it several times per event for a handful of label sets."""

    _label_cache: dict[tuple[object, ...], Any]

    def labels(self, *labelvalues: object, **labelkwargs: object) -> Any:
        if not labelkwargs:
            cache = self.__dict__.get("_label_cache")
            if cache is None:
                cache = self._label_cache = {}
            try:
                return cache[labelvalues]
            except KeyError:
                child = super().labels(*labelvalues)  # type: ignore[misc]
                cache[labelvalues] = child
                return child
            except TypeError:  # an unhashable value: let prometheus_client reject it
                pass
        return super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]

    def remove(self, *labelvalues: Any) -> None:
        self.__dict__.pop("_label_cache", None)
        super().remove(*labelvalues)  # type: ignore[misc]

    def clear(self) -> None:
        self.__dict__.pop("_label_cache", None)
        super().clear()  # type: ignore[misc]


class Counter(_CachedLabels, prometheus_client.Counter):
    pass


class Gauge(_CachedLabels, prometheus_client.Gauge):
    pass


class Histogram(_CachedLabels, prometheus_client.Histogram):
    pass
