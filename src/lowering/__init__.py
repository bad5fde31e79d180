"""Lowering: IR ops to primitive arithmetic counts typed by bit width, hardware targets, and
IR → ONNX export. Filled by the cost-model and export issues; see ../shared/DESIGN.md."""
