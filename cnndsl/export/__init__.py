"""Code generation: a checked spec as PyTorch or Keras source whose parameters are the compiled model's."""
