"""Deployment: a compiled model in another precision (fp16, calibrated int8), a Triton model
repository for it, and a Triton server that serves it. After the runtime stage: calibration and
serving run the model with ONNX Runtime."""
