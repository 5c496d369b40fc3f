"""cnndsl/onnx"""
