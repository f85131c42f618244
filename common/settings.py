"""Settings shared by every package: each value is defined here once and imported elsewhere.

Kept free of heavy imports so that the ``stegavox`` command can read it at start-up.
"""

#: Sampling rate (Hz) of the application's speech, the shipped enhancer and the demo speech.
SPEECH_SAMPLE_RATE = 16000

#: JPEG quality the classical embedder designs for when no platform or target is given.
JPEG_QUALITY_TARGET = 75

#: Real-JPEG qualities at which training validation and benchmarks measure recovery.
VALIDATION_JPEG_QUALITIES = (50, 75, 90)

#: Real-JPEG qualities of ``stegavox sweep``.
SWEEP_JPEG_QUALITIES = (50, 60, 70, 75, 80, 90, 95)
