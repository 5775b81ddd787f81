"""Builds the Lambda layers, the function package and their manifests."""
