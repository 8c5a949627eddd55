/** The simulated MCUboot-class device: flash, layout, boot state, secure bootloader and its firmware updater. */
export { FileFlash, MemoryFlash, PowerCut, PowerLoss, type Flash, type FlashOptions } from './flash.js';
export { defineLayout, headerArea, RegionWriter, roundUp, type Layout, type LayoutOptions, type Region } from './layout.js';
export {
  BootStateStore,
  crc32,
  initialBootState,
  type BootState,
  type DownloadProgress,
  type InstallResult,
  type OverwriteProgress,
  type SwapProgress,
} from './boot-state.js';
export { digestOf, imageOf, programSlot, readSlotHeader, signedManifest, verifyEnvelope, verifySlot, writeSlotHeader, type DeviceIdentity, type SlotHeader, type SlotImage } from './slot.js';
export { Bootloader, type BootResult } from './bootloader.js';
export { DeviceResult, updateResultFor } from './update-result.js';
export { DeviceFirmwareUpdater, type DeviceUpdaterOptions } from './updater.js';
export { Device, type DeviceOptions } from './device.js';
export { applyFromFiles, applyInPlaceFromFiles, measureApply, type ApplyReport } from './apply-child.js';
