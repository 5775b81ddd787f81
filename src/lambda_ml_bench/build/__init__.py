"""Building: the layers (kinds as data, wheels with hashes, slimming, checks, deterministic zips), the model with its
import and ONNX proof, and the function package."""
