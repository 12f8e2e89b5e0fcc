"""Reference detectors, one file each, registered in ``anomset.registry.DETECTORS``."""

from anomset.evaluate.detectors import draem_split, dual_memory, memory_bank, resnet_cls, unet
from anomset.evaluate.detectors.base import Detector, DetectorError, TestSet, TrainSet

__all__ = ["Detector", "DetectorError", "TestSet", "TrainSet",
           "draem_split", "dual_memory", "memory_bank", "resnet_cls", "unet"]
