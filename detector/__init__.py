"""Pure, vectorised thermal detection: frames in, tracks and water-entry / person-in-water detections out.

No I/O here: the edge feeds frames and publishes what comes out.
"""

from quaywatch.detector.detector import Detector
from quaywatch.detector.types import Detection, FrameResult, Track

__all__ = ["Detection", "Detector", "FrameResult", "Track"]
