"""Energy: exact activity counts of a run -> energy per inference, beside a digital ANN baseline.

Three steps, each usable alone:

1. **Count.**  :class:`ActivityCounter` is a :class:`bittrue.run.Sink`: pass it to
   ``Runner.run_batch(..., sink=counter)``.  It gathers exact integer activity counts of what
   the emulated chip does (:class:`ActivityCounts`): every counter that depends on the data
   (spikes, active crossbar rows, SSA counter increments) is summed from the signals the runner
   emits; every counter fixed by the dimensions (LFSR steps, AND evaluations, comparator
   operations, ADC conversions, requantisation multiply-adds, LIF updates, buffer bits, residual
   adds) is its closed form (:func:`closed_form_counts`), multiplied by the number of samples.
2. **Price.**  :func:`load_energy_table` reads the TOML energy table (default
   ``bittrue/hardware/energy.toml``; every entry carries its source or is marked as an assumption)
   and applies technology scaling.  :func:`xpk1_energy` turns counts into picojoules per site and
   per category.
3. **Compare.**  :func:`baseline_counts` / :func:`baseline_energy` price an int8 digital
   ANN-transformer of the same dimensions (every matmul including attention, softmax, LayerNorm,
   GELU, requantisation, residual adds, activation and weight traffic) on the same table.

:func:`energy_report` puts it together (the ``energy`` section of ``infer --json``);
:func:`add_energy_parser` / :func:`cmd_energy` are the ``python -m bittrue energy`` command.

The package, by job: ``counts`` (the counter sink, closed forms, recounting a golden file), ``table`` (the
price table), ``baseline`` (the digital ANN baseline), ``report`` (XPK-1 energy and the report), ``tuning``
(random models tuned to a spike density), ``command`` (the ``energy`` command).

Counter sites (keys of ``ActivityCounts.sites``)
------------------------------------------------
===========================  ============================================================
site                         counters
===========================  ============================================================
``encoder``                  lfsr_steps, comparator_ops, spikes, buffer_bits_written,
                             buffer_bits_read (the 8-bit feature codes, every step)
``embed``, ``blocks.b.qkv``, active_rows, wordline_pulses, cell_reads, adc_conversions,
``.proj``, ``.mlp1``,        psum_adds, requant_macs, buffer_bits_read (+ ``logit_adds``
``.mlp2``, ``head``          for ``head``); per-tile cell reads in ``ActivityCounts.tiles``
``lif.<lif name>``           lif_updates, spikes, buffer_bits_written, state_bits
``blocks.b.ssa``             lfsr_steps, and_evals_score, and_evals_output,
                             counter_increments_score, counter_increments_output,
                             comparator_ops_score, comparator_ops_output, spikes_score,
                             spikes_output, buffer_bits_read, buffer_bits_written
``embed.residual``,          residual_adds, state_bits
``blocks.b.residual``
===========================  ============================================================

All counts are totals over every sample counted (``n_samples``) and every time step.
"""
from __future__ import annotations

from .counts import (ActivityCounter, ActivityCounts, MultiSink, closed_form_counts,  # noqa: F401
                     counted_signal_order, counts_from_golden, crossbar_inputs, lif_sizes, signal_group)
from .table import (BASELINE_CATEGORIES, TABLE_FORMAT, TABLE_MAJOR, XPK1_CATEGORIES, EnergyTable,  # noqa: F401
                    EnergyTableError, default_table_path, load_energy_table)
from .baseline import baseline_counts, baseline_energy  # noqa: F401
from .report import energy_report, format_report, spike_densities, xpk1_energy, xpk1_site_energy  # noqa: F401
from .tuning import random_tokens, tune_random_model  # noqa: F401
from .command import add_energy_parser, cmd_energy  # noqa: F401
