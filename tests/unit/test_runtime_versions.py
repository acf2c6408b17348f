"""What a benchmark row names as its emulator and runtime client comes from inside the image it ran
(infra/docker.runtime_versions): the parser of the in-image probe's output, over generated outputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from infra.docker import parse_runtime_versions

_version = st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?(\.post[0-9])?", fullmatch=True)
_dir = st.sampled_from(["/var/runtime", "/var/lang/lib/python3.12/site-packages", "/opt/ric/lib"])
_hex = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(_dir, _version, _hex, st.booleans(), st.booleans())
def test_probe_output_parses_to_what_the_image_holds(
    where: str, version: str, digest: str, has_ric: bool, has_rie: bool
) -> None:
    lines = []
    if has_ric:
        lines.append(f"{where}/awslambdaric-{version}.dist-info")
    if has_rie:
        lines.append(f"{digest}  /usr/local/bin/aws-lambda-rie")
    found = parse_runtime_versions("\n".join(lines) + "\n")
    assert found["awslambdaric"] == (version if has_ric else "")
    assert found["rie_sha256"] == (digest if has_rie else "")


def test_other_lines_name_nothing() -> None:
    noise = "sha256sum: /usr/local/bin/aws-lambda-rie: No such file or directory\n/usr/lib/awslambdaric\n"
    assert parse_runtime_versions(noise) == {"awslambdaric": "", "rie_sha256": ""}
