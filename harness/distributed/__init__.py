"""Data-parallel SpMM training on torch.distributed (gloo on CPU, NCCL on GPUs), launched by torchrun, with
the gradient exchange's time and bytes measured per step, and a scaling model on paper for many ranks."""
