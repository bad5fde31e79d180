"""Frontends: PyTorch (torch.export), ONNX, scikit-learn and XGBoost models → ``nexus_ir.Graph``.
Each frontend imports its heavy dependency inside its own module."""
