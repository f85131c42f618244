"""The payload core of ``stegavox``: audio codecs, AES-256-GCM, BCH coding and the container frame.

Sender: ``codecs.encode_audio`` → ``container.pack`` (encrypts with ``crypto``, codes with
``ecc``) → bits for an :class:`~steganography.embedders.base.Embedder`. Receiver: extracted (soft) bits
→ ``container.unpack`` → the exact audio file bytes, or a documented :mod:`common.errors` error.
"""
