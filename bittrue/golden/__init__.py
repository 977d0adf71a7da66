"""Golden vectors and activation logs: one HDF5 writer, its reader, and ``verify``.

The layout is specified in ``docs/golden-schema.md`` (schema ``bittrue-golden`` 1.3.0).  In short::

    /                 attrs: schema, schema_version, creator, versions, config_json, seeds, sha256s, ...
    /chip             the programmed chip (bittrue.hwfile.write_chip): hardware + conductance image
    /inputs           feature_code (sample, patch, feature) uint8, sample_id (sample,), [label]
    /layers/NN_<unit> one group per hardware unit in data-flow order; one dataset per run signal
    /outputs          logits (sample, class), prediction (sample,)

:class:`GoldenWriter` is a :class:`bittrue.run.Sink`: it buffers one batch (in storage encoding:
spikes bit-packed, codes in the narrowest integer type of their declared width) and appends it to
resizable chunked datasets at ``end_batch``, so memory is bounded by the batch size for any run
length.  The same writer serves ``bittrue golden`` (every signal) and ``bittrue infer --log``
(chosen signal groups).

:func:`verify` rebuilds the chip from the file's own ``/chip`` group, re-checks its sha256 digests,
replays the stored inputs with the stored sample ids, root seed and T, and compares every stored
dataset element by element, batch by batch; the first difference (in run order: batch, then time
step, then data-flow order, then C order with the sample first) is reported cocotb-style.

The package, by job:

=============  ==========================================================================================
``format``     schema name and version, encodings, the integer :class:`Format` of every signal and chip dataset
``replay``     hardware units in data-flow order, the companion groups an RTL replay needs, replay attributes
``digest``     canonical records and sha256 digests of a chip
``writer``     :class:`GoldenWriter` (a run sink) and :func:`write_run`
``resume``     continuing a partial activation log (``GoldenWriter.resume``)
``reader``     schema checks, the signal index, :class:`GoldenFile`
``verify``     :func:`verify`: replay on the stored chip, first mismatch
=============  ==========================================================================================
"""
from __future__ import annotations

from .format import (CHUNK_BYTES, CHUNK_SAMPLES, ENC_FLOAT, ENC_INT, ENC_PACKED, ENCODING_VERSION,  # noqa: F401
                     GZIP_LEVEL, NOISE_GENERATOR_1_0, RENAMED_BEFORE_1_3, SCHEMA, SCHEMA_VERSION, SPIKE, Format,
                     GoldenError, decode, encode, format_from_attrs, signal_format)
from .replay import (check_replayable, crossbar_input, replay_attrs, replay_blocks, seed_shape_attrs,  # noqa: F401
                     unit_order)
from .digest import chip_digests, chip_records  # noqa: F401
from .writer import GoldenWriter, write_run  # noqa: F401
from .resume import resume_writer  # noqa: F401
from .reader import GoldenFile, check_noise_generator, check_schema, signal_datasets, version_tuple  # noqa: F401
from .verify import Mismatch, VerifyResult, compare_block, verify  # noqa: F401
