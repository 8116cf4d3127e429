#!/usr/bin/env python3
"""The pydicom + numpy peer: read a folder of slices, sort by position along the normal,
apply rescale, stack into one volume in memory (what a typical Python pipeline does)."""
import os
import sys

import numpy as np
import pydicom

folder = sys.argv[1]
slices = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".dcm")]
iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
normal = np.cross(iop[:3], iop[3:])
slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, dtype=float))))
vol = np.stack([s.pixel_array for s in slices]).astype(np.int16)
slope, inter = float(slices[0].RescaleSlope), float(slices[0].RescaleIntercept)
if slope != 1 or inter != 0:
    vol = (vol * slope + inter).astype(np.int16)
print(vol.shape, vol.dtype, int(vol.min()), int(vol.max()))
