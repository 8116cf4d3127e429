#!/usr/bin/env python3
"""No leak: plant identifiers in every kind of place Table E.1-1 covers (top level, nested
sequences, private tags, free text, SR text, overlays) in copies of real DICOM files, run
`lucent deid` under each option set, and prove that no planted string (nor an original UID)
occurs anywhere in the output bytes — except what an option retains by definition."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "deid_support"))
from common import *  # noqa: E402,F401,F403

pydicom = pydicom_or_skip()
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

LUCENT = lucent_bin()
DATA = data_dir()

# planted string -> the option that retains it by definition (None: nothing may keep it)
PLANTED = {
    "Leakington^Marguerite": None, "Leakington": None, "LKID-99173": None, "LKOTHER-5521": None,
    "LKISSUER": None, "19430917": None, "42 Leakwood Lane": None, "Harbourville": None,
    "555-0199-733": None, "LKACC77821": None, "Drleaky": None, "Oplleaky": None, "LKNESTACC": None,
    "LKREQ123": None, "Deepleak": None, "LKPRIVATE-SECRET": None, "Privleak": None, "LKOVERLAY": None,
    "Leakperson": None, "LKSRTEXT": None, "LKPREAMBLE": None, "LKPADDING": None, "LKPROTOCOL": None, "LKMOTHER": None,
    "Leakfield General Infirmary": "retain-institution-identity",
    "9 Leakhospital Road": "retain-institution-identity",
    "LKSTATION9": "retain-device-identity", "LKSN-883311": "retain-device-identity",
    "20170614": "retain-long-full-dates", "20170615": "retain-long-full-dates",
}


def plant(ds):
    ds.preamble = b"LKPREAMBLE Leakington" + b"\0" * (128 - 21)
    ds.add_new(0xFFFCFFFC, "OB", b"LKPADDING Leakington\0\0\0\0")
    ds.PatientName = "Leakington^Marguerite"
    ds.PatientID = "LKID-99173"
    ds.IssuerOfPatientID = "LKISSUER"
    ds.PatientBirthDate = "19430917"
    ds.PatientAddress = "42 Leakwood Lane, Harbourville"
    ds.PatientTelephoneNumbers = "+1-555-0199-733"
    ds.PatientMotherBirthName = "LKMOTHER^Anne"
    ds.AccessionNumber = "LKACC77821"
    ds.InstitutionName = "Leakfield General Infirmary"
    ds.InstitutionAddress = "9 Leakhospital Road"
    ds.ReferringPhysicianName = "Drleaky^Bartholomew"
    ds.OperatorsName = "Oplleaky^Tom"
    ds.StationName = "LKSTATION9"
    ds.DeviceSerialNumber = "LKSN-883311"
    ds.StudyDate = "20170614"
    ds.SeriesDate = "20170614"
    ds.ContentDate = "20170615"
    ds.ImageComments = "Patient Leakington seen by Drleaky, ph 555-0199-733"
    ds.StudyDescription = "CT for Leakington"
    ds.ProtocolName = "LKPROTOCOL head"
    other = Dataset()
    other.PatientID = "LKOTHER-5521"
    other.IssuerOfPatientID = "LKISSUER"
    ds.OtherPatientIDsSequence = Sequence([other])
    # nested three deep: Request Attributes -> Referenced Study -> item with a name
    inner = Dataset()
    inner.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    inner.ReferencedSOPInstanceUID = ds.StudyInstanceUID if "StudyInstanceUID" in ds else "1.2.3"
    inner.PatientName = "Deepleak^Name"
    req = Dataset()
    req.AccessionNumber = "LKNESTACC"
    req.RequestedProcedureID = "LKREQ123"
    req.ReferencedStudySequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([req])
    # a sequence the table does not name, holding identifiers (recursed into)
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ref.PatientName = "Deepleak^Other"
    ref.AccessionNumber = "LKNESTACC"
    ds.ReferencedInstanceSequence = Sequence([ref])
    # private block, including a private sequence
    blk = ds.private_block(0x0011, "LEAKCORP", create=True)
    blk.add_new(0x10, "LO", "LKPRIVATE-SECRET")
    pitem = Dataset()
    pitem.PatientName = "Privleak^Name"
    blk.add_new(0x11, "SQ", Sequence([pitem]))
    if "Rows" in ds and "Columns" in ds:
        ds.add_new(0x60004000, "LT", "LKOVERLAY note for Leakington")
    # SR: text and person names inside the content tree
    if "ContentSequence" in ds:
        txt = Dataset()
        txt.RelationshipType = "CONTAINS"
        txt.ValueType = "TEXT"
        cn = Dataset()
        cn.CodeValue, cn.CodingSchemeDesignator, cn.CodeMeaning = "121106", "DCM", "Comment"
        txt.ConceptNameCodeSequence = Sequence([cn])
        txt.TextValue = "LKSRTEXT Leakington 555-0199-733"
        pn = Dataset()
        pn.RelationshipType = "HAS OBS CONTEXT"
        pn.ValueType = "PNAME"
        pn.ConceptNameCodeSequence = Sequence([cn])
        pn.PersonName = "Leakperson^Observer"
        ds.ContentSequence.append(txt)
        ds.ContentSequence[0].ContentSequence = getattr(ds.ContentSequence[0], "ContentSequence", Sequence())
        ds.ContentSequence[0].ContentSequence.append(pn)


def main():
    tmp = tempfile.mkdtemp(prefix="lucent-deid-leak-")
    corpus = os.path.join(tmp, "corpus")
    files = readable_dicoms(os.path.join(DATA, "dicom"), limit=150)
    if len(files) < 10:
        skip("too few readable DICOM files under the data dir")
    original_uids = set()
    n = 0
    for i, src in enumerate(files):
        ds = pydicom.dcmread(src)
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
            v = str(ds.get(kw, ""))
            if v and not v.startswith("1.2.840.10008."):
                original_uids.add(v)
        try:
            plant(ds)
            sub = os.path.join(corpus, "Leakington_Marguerite", "study%d" % (i % 4))
            os.makedirs(sub, exist_ok=True)
            ds.save_as(os.path.join(sub, "img%03d.dcm" % i), write_like_original=False)
            n += 1
        except Exception as e:  # a file pydicom cannot re-encode is simply not part of the corpus
            print("note: skipped", src, e)
    print("corpus: %d files with planted identifiers" % n)
    # The scanner itself must see every planted string in the corpus, or the test proves nothing.
    corpus_bytes = b"".join(d for _, d in all_output_bytes(corpus))
    missing = [s for s in PLANTED if s.encode() not in corpus_bytes]
    if missing:
        print("FAILED: planting did not work for", missing)
        sys.exit(1)
    key = new_key(tmp)
    rules = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "deid", "pixel_rules.script")
    option_sets = [[], ["retain-safe-private"], ["retain-uids"], ["retain-device-identity"],
                   ["retain-institution-identity"], ["retain-patient-characteristics"], ["retain-long-full-dates"],
                   ["retain-long-modified-dates"], ["clean-descriptors"], ["clean-structured-content"],
                   ["clean-graphics"], ["clean-pixel-data"],
                   ["clean-descriptors", "clean-structured-content", "clean-graphics", "retain-long-modified-dates",
                    "retain-patient-characteristics"]]
    failures = 0
    for opts in option_sets:
        out = os.path.join(tmp, "out-" + ("-".join(opts) or "basic"))
        args = [LUCENT, "deid", corpus, out, "--key", key, "--threads", "2"]
        for o in opts:
            args += ["--option", o]
        if "clean-pixel-data" in opts:
            args += ["--rules", rules]
        p = run(args)
        written = sum(1 for _ in all_output_bytes(out)) - 1  # minus the completion record
        leaks = []
        for path, data in all_output_bytes(out):
            if "Leakington" in path:
                leaks.append(("path", path))
            for s, retained_by in PLANTED.items():
                if retained_by in opts:
                    continue
                if s.encode() in data:
                    leaks.append((s, path))
            if "retain-uids" not in opts:
                for u in original_uids:
                    if u.encode() in data:
                        leaks.append(("UID " + u, path))
        status = "ok" if not leaks else "LEAK"
        print("%-100s %s (%d files written)" % (" ".join(opts) or "basic", status, written))
        for s, path in leaks[:10]:
            print("   leaked %r in %s" % (s, path))
        failures += bool(leaks)
        # retained things are really retained (the option is not a no-op)
        if opts == ["retain-institution-identity"]:
            if not any(b"Leakfield General Infirmary" in d for _, d in all_output_bytes(out)):
                print("   retain-institution-identity did not retain Institution Name")
                failures += 1
        if p.returncode != 0:
            failures += 1
        # The verifier agrees: nothing the profile (same options) would still change.
        chk = [LUCENT, "deid", "--check", out] + sum((["--option", o] for o in opts), [])
        c = run(chk, check=False)
        if c.returncode != 0:
            print("   --check found:", (c.stdout + c.stderr).strip()[:600])
            failures += 1
    if failures:
        print("FAILED: %d option sets leaked or failed" % failures)
        sys.exit(1)
    print("no planted identifier in any output under %d option sets" % len(option_sets))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
