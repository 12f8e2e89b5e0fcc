"""Diffusers inpainting shared by the model-backed synthesizers: loading (``loading``) and inpainting (``inpaint``)."""
