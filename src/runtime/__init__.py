"""Runtime: executing models for measurement, energy meters (NVML, RAPL), Nsight Compute
collection, validation of predictions and target calibration."""
