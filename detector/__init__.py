"""Pure, vectorised thermal detection: frames in, tracks and water-entry / person-in-water detections out.

No I/O here: the edge feeds frames and publishes what comes out.
"""
