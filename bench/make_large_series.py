#!/usr/bin/env python3
"""Writes a synthetic large CT series from one real slice: N slices, new positions and UIDs.

usage: make_large_series.py SOURCE.dcm OUT_DIR [N=400]
Pixel data vary per slice (a shifted copy of the real slice) so no reader can cache them.
File names are shuffled relative to position so readers must sort by geometry.
"""
import os
import random
import sys

import numpy as np
import pydicom
from pydicom.uid import generate_uid

src, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
os.makedirs(out, exist_ok=True)
ds = pydicom.dcmread(src)
ds.decompress() if ds.file_meta.TransferSyntaxUID.is_compressed else None
base = ds.pixel_array.copy()
series_uid, study_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
ipp0 = [float(v) for v in ds.ImagePositionPatient]
spacing = 1.25
order = list(range(n))
random.Random(7).shuffle(order)
for k in range(n):
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = study_uid
    ds.FrameOfReferenceUID = frame_uid
    sop = generate_uid()
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [ipp0[0], ipp0[1], ipp0[2] + k * spacing]
    ds.SliceThickness = spacing
    ds.SliceLocation = ipp0[2] + k * spacing
    ds.PixelData = np.roll(base, k, axis=1).astype(base.dtype).tobytes()
    ds.save_as(os.path.join(out, f"slice_{order[k]:04d}.dcm"), write_like_original=False)
print(f"wrote {n} slices of {base.shape[1]}x{base.shape[0]} to {out}")
