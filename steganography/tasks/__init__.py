"""LightningModules of the steganography models."""
