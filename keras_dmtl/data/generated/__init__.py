"""Generated faces: a labelled dataset that needs no download and no consent.

`synthetic` draws faces procedurally (identities with their own geometry and
skin, FACS-driven expressions with their action units, pose and lighting
jitter), either as a CK+48-style folder that every reader path accepts, or one
image at a time for the shard writer. numpy + OpenCV only.
"""
