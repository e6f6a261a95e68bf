"""Video reading (PyAV), clip datasets and LightningDataModules; the game recorder."""

from genie_lit.data.clips import ClipDataset
from genie_lit.data.datamodule import ShardedEvalSampler, VideoDataModule
from genie_lit.data.index import ScanResult, VideoEntry, scan_folder, split_files
from genie_lit.data.video_io import VIDEO_EXTENSIONS, VideoInfo, VideoReadError, probe, read_frames

__all__ = [
    "VIDEO_EXTENSIONS",
    "ClipDataset",
    "ScanResult",
    "ShardedEvalSampler",
    "VideoDataModule",
    "VideoEntry",
    "VideoInfo",
    "VideoReadError",
    "probe",
    "read_frames",
    "scan_folder",
    "split_files",
]
