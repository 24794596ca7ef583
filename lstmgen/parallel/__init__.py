"""Data parallelism over processes and machines: the comm layer (MPI), the data-parallel trainer, the launcher."""
