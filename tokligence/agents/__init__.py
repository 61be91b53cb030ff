"""Help for coding agents: the repeated-tool-call guard (``guard``), shell
call normalisation (``shell``) and the ``tokligence claude|codex`` launchers
(``launch``). See docs/launchers.md."""
