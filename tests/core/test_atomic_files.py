"""Atomic writes give exported files the permissions a plain write would (issue 13, defect 10)."""


def test_files_get_the_permissions_a_plain_write_gives(tmp_path):
    import os
    import stat

    from studio.core.atomic_files import write_bytes_atomic

    old = os.umask(0o027)
    try:
        fresh = write_bytes_atomic(tmp_path / "export.wav", b"RIFF")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640  # not mkstemp's 0600
    secret = write_bytes_atomic(tmp_path / "engine.json", b"{}", mode=0o600)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    secret.chmod(0o600)
    again = write_bytes_atomic(secret, b"{ }")
    assert stat.S_IMODE(again.stat().st_mode) == 0o600  # replacing keeps the file's mode
