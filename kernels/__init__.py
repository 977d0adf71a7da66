"""Pure Numba kernels of the XPK-1 hardware blocks: integers in, integers out.

Installed as ``bittrue.kernels``.  Kernels never import :mod:`bittrue`, take no configuration
objects, and keep all state (LFSR registers, membranes) in arrays the caller passes in.

Spec-form twins and test helpers: these kernels are not called by :mod:`bittrue`; the tests compare the
fast kernels with them (besides ``tests/reference.py``), and each says so in its docstring.

=================================  ==============================================================
kernel                             kept as
=================================  ==============================================================
``crossbar.adc_convert``           spec 4.6 in integers (exact division); twin of ``_adc_offset``
``crossbar.noise_code``            one conversion's output noise, scalar; twin of the layer loop
``lfsr.lfsr_draw_bank``            step-by-step bank draw (spec 2.2); twin of the jump/shift forms
``lfsr.lfsr_draw_bank_parallel``   threaded ``lfsr_draw_bank``: the thread-invariance test's subject
``lfsr.lfsr_period``               period of a register (the primitive-tap tests)
=================================  ==============================================================
"""
