"""`cnndsl import`: an ONNX model lifted into a readable spec, with its repeated structure as blocks."""
