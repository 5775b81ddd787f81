"""The function package's code, its zip root on Lambda: `benchmark` (the study's SVM workload), `predict` (the model
with scikit-learn) and `predict_onnx` (the same contract with ONNX Runtime). Imports nothing of the library; relative
imports only, so the folder runs both as `handlers` on Lambda and as `lambda_ml_bench.handlers` here."""
