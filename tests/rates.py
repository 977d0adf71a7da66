"""A sink that measures the spike rate of every LIF population (shared by the network-equivalence tests)."""
from __future__ import annotations


class RateSink:
    """``bittrue.run.Sink`` of the ``spikes`` group: mean firing rate per LIF population (name without ``lif.``)."""

    signals = frozenset({"spikes"})

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def __call__(self, path, t, data):
        name = path.split("/")[0].removeprefix("lif.")
        self.sums[name] = self.sums.get(name, 0.0) + float(data.sum())
        self.counts[name] = self.counts.get(name, 0) + data.size

    def rates(self):
        return {k: self.sums[k] / self.counts[k] for k in self.sums}
