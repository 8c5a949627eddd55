/**
 * The core LwM2M objects 0-7 in the versions of the LwM2M 1.1 enabler (Core §E.1-E.7 and the
 * OMA registry): Security 1.1, Server 1.1, Access Control 1.0, Device 1.1, Connectivity Monitoring 1.2,
 * Firmware Update 1.0, Location 1.0, Connectivity Statistics 1.0. Resource metadata matches the
 * registry files; resources that later object versions added are left out.
 */
import type { ObjectDefinition, Operations, ResourceDefinition, ResourceType } from '../model.js';

function r(
  id: number,
  name: string,
  operations: Operations,
  multiple: boolean,
  mandatory: boolean,
  type: ResourceType,
  rangeEnumeration?: string,
  units?: string,
): ResourceDefinition {
  const def: { -readonly [K in keyof ResourceDefinition]: ResourceDefinition[K] } = { id, name, operations, multiple, mandatory, type };
  if (rangeEnumeration !== undefined) def.rangeEnumeration = rangeEnumeration;
  if (units !== undefined) def.units = units;
  return def;
}

function o(
  def: Omit<ObjectDefinition, 'resources'>,
  resources: ResourceDefinition[],
): ObjectDefinition {
  return { ...def, resources: new Map(resources.map((res) => [res.id, res])) };
}

const S = false;
const M = true;
const OPT = false;
const MAND = true;

/** Object 0 LWM2M Security 1.1. */
export const SECURITY: ObjectDefinition = o(
  {
    id: 0,
    name: 'LWM2M Security',
    description: 'This LwM2M Object provides the keying material of a LwM2M Client appropriate to access a specified LwM2M Server. One Object Instance SHOULD address a LwM2M Bootstrap-Server.\nThese LwM2M Object Resources MUST only be changed by a LwM2M Bootstrap-Server or Bootstrap from Smartcard and MUST NOT be accessible by any other LwM2M Server.',
    version: '1.1',
    lwm2mVersion: '1.1',
    urn: 'urn:oma:lwm2m:oma:0:1.1',
    multiple: true,
    mandatory: true,
  },
  [
    r(0, 'LWM2M Server URI', '', S, MAND, 'string', '0..255'),
    r(1, 'Bootstrap-Server', '', S, MAND, 'boolean'),
    r(2, 'Security Mode', '', S, MAND, 'integer', '0..4'),
    r(3, 'Public Key or Identity', '', S, MAND, 'opaque'),
    r(4, 'Server Public Key', '', S, MAND, 'opaque'),
    r(5, 'Secret Key', '', S, MAND, 'opaque'),
    r(6, 'SMS Security Mode', '', S, OPT, 'integer', '0..255'),
    r(7, 'SMS Binding Key Parameters', '', S, OPT, 'opaque', '6'),
    r(8, 'SMS Binding Secret Key(s)', '', S, OPT, 'opaque', '16,32,48'),
    r(9, 'LwM2M Server SMS Number', '', S, OPT, 'string'),
    r(10, 'Short Server ID', '', S, OPT, 'integer', '1..65534'),
    r(11, 'Client Hold Off Time', '', S, OPT, 'integer', undefined, 's'),
    r(12, 'Bootstrap-Server Account Timeout', '', S, OPT, 'integer', undefined, 's'),
    r(13, 'Matching Type', '', S, OPT, 'unsignedInteger', '0..3'),
    r(14, 'SNI', '', S, OPT, 'string'),
    r(15, 'Certificate Usage', '', S, OPT, 'unsignedInteger', '0..3'),
    r(16, 'DTLS/TLS Ciphersuite', '', M, OPT, 'unsignedInteger'),
    r(17, 'OSCORE Security Mode', '', S, OPT, 'objlnk'),
  ],
);

/** Object 1 LwM2M Server 1.1. */
export const SERVER: ObjectDefinition = o(
  {
    id: 1,
    name: 'LwM2M Server',
    description: 'This LwM2M Objects provides the data related to a LwM2M Server. A Bootstrap-Server has no such an Object Instance associated to it.',
    version: '1.1',
    lwm2mVersion: '1.1',
    urn: 'urn:oma:lwm2m:oma:1:1.1',
    multiple: true,
    mandatory: true,
  },
  [
    r(0, 'Short Server ID', 'R', S, MAND, 'integer', '1..65534'),
    r(1, 'Lifetime', 'RW', S, MAND, 'integer', undefined, 's'),
    r(2, 'Default Minimum Period', 'RW', S, OPT, 'integer', undefined, 's'),
    r(3, 'Default Maximum Period', 'RW', S, OPT, 'integer', undefined, 's'),
    r(4, 'Disable', 'E', S, OPT, 'none'),
    r(5, 'Disable Timeout', 'RW', S, OPT, 'integer', undefined, 's'),
    r(6, 'Notification Storing When Disabled or Offline', 'RW', S, MAND, 'boolean'),
    r(7, 'Binding', 'RW', S, MAND, 'string'),
    r(8, 'Registration Update Trigger', 'E', S, MAND, 'none'),
    r(9, 'Bootstrap-Request Trigger', 'E', S, OPT, 'none'),
    r(10, 'APN Link', 'RW', S, OPT, 'objlnk'),
    r(11, 'TLS-DTLS Alert Code', 'R', S, OPT, 'unsignedInteger', '0..255'),
    r(12, 'Last Bootstrapped', 'R', S, OPT, 'time'),
    r(13, 'Registration Priority Order', 'R', S, OPT, 'unsignedInteger'),
    r(14, 'Initial Registration Delay Timer', 'RW', S, OPT, 'unsignedInteger', undefined, 's'),
    r(15, 'Registration Failure Block', 'R', S, OPT, 'boolean'),
    r(16, 'Bootstrap on Registration Failure', 'R', S, OPT, 'boolean'),
    r(17, 'Communication Retry Count', 'RW', S, OPT, 'unsignedInteger'),
    r(18, 'Communication Retry Timer', 'RW', S, OPT, 'unsignedInteger', undefined, 's'),
    r(19, 'Communication Sequence Delay Timer', 'RW', S, OPT, 'unsignedInteger', undefined, 's'),
    r(20, 'Communication Sequence Retry Count', 'RW', S, OPT, 'unsignedInteger'),
    r(21, 'Trigger', 'RW', S, OPT, 'boolean'),
    r(22, 'Preferred Transport', 'RW', S, OPT, 'string', 'The possible values are those listed in the LwM2M Core Specification'),
    r(23, 'Mute Send', 'RW', S, OPT, 'boolean'),
  ],
);

/** Object 2 LwM2M Access Control 1.0. */
export const ACCESS_CONTROL: ObjectDefinition = o(
  {
    id: 2,
    name: 'LwM2M Access Control',
    description: 'Access Control Object is used to check whether the LwM2M Server has access right for performing an operation.',
    version: '1.0',
    lwm2mVersion: '1.0',
    urn: 'urn:oma:lwm2m:oma:2',
    multiple: true,
    mandatory: false,
  },
  [
    r(0, 'Object ID', 'R', S, MAND, 'integer', '1..65534'),
    r(1, 'Object Instance ID', 'R', S, MAND, 'integer', '0..65535'),
    r(2, 'ACL', 'RW', M, OPT, 'integer', '0..31'),
    r(3, 'Access Control Owner', 'RW', S, MAND, 'integer', '0..65535'),
  ],
);

/** Object 3 Device 1.1. */
export const DEVICE: ObjectDefinition = o(
  {
    id: 3,
    name: 'Device',
    description: 'This LwM2M Object provides a range of device related information which can be queried by the LwM2M Server, and a device reboot and factory reset function.',
    version: '1.1',
    lwm2mVersion: '1.1',
    urn: 'urn:oma:lwm2m:oma:3:1.1',
    multiple: false,
    mandatory: true,
  },
  [
    r(0, 'Manufacturer', 'R', S, OPT, 'string'),
    r(1, 'Model Number', 'R', S, OPT, 'string'),
    r(2, 'Serial Number', 'R', S, OPT, 'string'),
    r(3, 'Firmware Version', 'R', S, OPT, 'string'),
    r(4, 'Reboot', 'E', S, MAND, 'none'),
    r(5, 'Factory Reset', 'E', S, OPT, 'none'),
    r(6, 'Available Power Sources', 'R', M, OPT, 'integer', '0..7'),
    r(7, 'Power Source Voltage', 'R', M, OPT, 'integer'),
    r(8, 'Power Source Current', 'R', M, OPT, 'integer'),
    r(9, 'Battery Level', 'R', S, OPT, 'integer', '0..100', '/100'),
    r(10, 'Memory Free', 'R', S, OPT, 'integer'),
    r(11, 'Error Code', 'R', M, MAND, 'integer', '0..32'),
    r(12, 'Reset Error Code', 'E', S, OPT, 'none'),
    r(13, 'Current Time', 'RW', S, OPT, 'time'),
    r(14, 'UTC Offset', 'RW', S, OPT, 'string'),
    r(15, 'Timezone', 'RW', S, OPT, 'string'),
    r(16, 'Supported Binding and Modes', 'R', S, MAND, 'string'),
    r(17, 'Device Type', 'R', S, OPT, 'string'),
    r(18, 'Hardware Version', 'R', S, OPT, 'string'),
    r(19, 'Software Version', 'R', S, OPT, 'string'),
    r(20, 'Battery Status', 'R', S, OPT, 'integer', '0..6'),
    r(21, 'Memory Total', 'R', S, OPT, 'integer'),
    r(22, 'ExtDevInfo', 'R', M, OPT, 'objlnk'),
  ],
);

/** Object 4 Connectivity Monitoring 1.2. */
export const CONNECTIVITY_MONITORING: ObjectDefinition = o(
  {
    id: 4,
    name: 'Connectivity Monitoring',
    description: 'This LwM2M Object enables monitoring of parameters related to network connectivity.\nIn this general connectivity Object, the Resources are limited to the most general cases common to most network bearers. It is recommended to read the description, which refers to relevant standard development organizations (e.g. 3GPP, IEEE).\nThe goal of the Connectivity Monitoring Object is to carry information reflecting the more up to date values of the current connection for monitoring purposes. Resources such as Link Quality, Radio Signal Strength, Cell ID are retrieved during connected mode at least for cellular networks.',
    version: '1.2',
    lwm2mVersion: '1.1',
    urn: 'urn:oma:lwm2m:oma:4:1.2',
    multiple: false,
    mandatory: false,
  },
  [
    r(0, 'Network Bearer', 'R', S, MAND, 'integer', '0..50'),
    r(1, 'Available Network Bearer', 'R', M, MAND, 'integer', '0..50'),
    r(2, 'Radio Signal Strength', 'R', S, MAND, 'integer', undefined, 'dBm'),
    r(3, 'Link Quality', 'R', S, OPT, 'integer'),
    r(4, 'IP Addresses', 'R', M, MAND, 'string'),
    r(5, 'Router IP Addresses', 'R', M, OPT, 'string'),
    r(6, 'Link Utilization', 'R', S, OPT, 'integer', '0..100', '/100'),
    r(7, 'APN', 'R', M, OPT, 'string'),
    r(8, 'Cell ID', 'R', S, OPT, 'integer'),
    r(9, 'SMNC', 'R', S, OPT, 'integer', '0..999'),
    r(10, 'SMCC', 'R', S, OPT, 'integer', '0..999'),
    r(11, 'SignalSNR', 'R', S, OPT, 'integer', undefined, 'dB'),
    r(12, 'LAC', 'R', S, OPT, 'integer'),
  ],
);

/** Object 5 Firmware Update 1.0. */
export const FIRMWARE_UPDATE: ObjectDefinition = o(
  {
    id: 5,
    name: 'Firmware Update',
    description: 'This LwM2M Object enables management of firmware which is to be updated. This Object includes installing a firmware package, updating firmware, and performing actions after updating firmware. The firmware update MAY require to reboot the device; it will depend on a number of factors, such as the operating system architecture and the extent of the updated software.\nThe envisioned functionality is to allow a LwM2M Client to connect to any LwM2M Server to obtain a firmware image using the object and resource structure defined in this section experiencing communication security protection using TLS/DTLS. There are, however, other design decisions that need to be taken into account to allow a manufacturer of a device to securely install firmware on a device. Examples for such design decisions are how to manage the firmware update repository at the server side (which may include user interface considerations), the techniques to provide additional application layer security protection of the firmware image, how many versions of firmware images to store on the device, and how to execute the firmware update process considering the hardware specific details of a given IoT hardware product. These aspects are considered to be outside the scope of this version of the specification.\nA LwM2M Server may also instruct a LwM2M Client to fetch a firmware image from a dedicated server (instead of pushing firmware images to the LwM2M Client). The Package URI resource is contained in the Firmware object and can be used for this purpose.\nA LwM2M Client MUST support block-wise transfer [CoAP_Blockwise] if it implements the Firmware Update object.\nA LwM2M Server MUST support block-wise transfer. Other protocols, such as HTTP/HTTPs, MAY also be used for downloading firmware updates (via the Package URI resource). For constrained devices it is, however, RECOMMENDED to use CoAP for firmware downloads to avoid the need for additional protocol implementations.',
    version: '1.0',
    lwm2mVersion: '1.0',
    urn: 'urn:oma:lwm2m:oma:5',
    multiple: false,
    mandatory: false,
  },
  [
    r(0, 'Package', 'W', S, MAND, 'opaque'),
    r(1, 'Package URI', 'RW', S, MAND, 'string', '0..255'),
    r(2, 'Update', 'E', S, MAND, 'none'),
    r(3, 'State', 'R', S, MAND, 'integer', '0..3'),
    r(5, 'Update Result', 'R', S, MAND, 'integer', '0..11'),
    r(6, 'PkgName', 'R', S, OPT, 'string', '0..255'),
    r(7, 'PkgVersion', 'R', S, OPT, 'string', '0..255'),
    r(8, 'Firmware Update Protocol Support', 'R', M, OPT, 'integer', '0..5'),
    r(9, 'Firmware Update Delivery Method', 'R', S, MAND, 'integer', '0..2'),
  ],
);

/** Object 6 Location 1.0. */
export const LOCATION: ObjectDefinition = o(
  {
    id: 6,
    name: 'Location',
    description: 'This LwM2M Object provides a range of location telemetry related information which can be queried by the LwM2M Server.',
    version: '1.0',
    lwm2mVersion: '1.0',
    urn: 'urn:oma:lwm2m:oma:6',
    multiple: false,
    mandatory: false,
  },
  [
    r(0, 'Latitude', 'R', S, MAND, 'float', undefined, 'lat'),
    r(1, 'Longitude', 'R', S, MAND, 'float', undefined, 'lon'),
    r(2, 'Altitude', 'R', S, OPT, 'float', undefined, 'm'),
    r(3, 'Radius', 'R', S, OPT, 'float', undefined, 'm'),
    r(4, 'Velocity', 'R', S, OPT, 'opaque'),
    r(5, 'Timestamp', 'R', S, MAND, 'time'),
    r(6, 'Speed', 'R', S, OPT, 'float', undefined, 'm/s'),
  ],
);

/** Object 7 Connectivity Statistics 1.0. */
export const CONNECTIVITY_STATISTICS: ObjectDefinition = o(
  {
    id: 7,
    name: 'Connectivity Statistics',
    description: 'This LwM2M Objects enables client to collect statistical information and enables the LwM2M Server to retrieve these information, set the collection duration and reset the statistical parameters.',
    version: '1.0',
    lwm2mVersion: '1.0',
    urn: 'urn:oma:lwm2m:oma:7',
    multiple: false,
    mandatory: false,
  },
  [
    r(0, 'SMS Tx Counter', 'R', S, OPT, 'integer'),
    r(1, 'SMS Rx Counter', 'R', S, OPT, 'integer'),
    r(2, 'Tx Data', 'R', S, OPT, 'integer'),
    r(3, 'Rx Data', 'R', S, OPT, 'integer'),
    r(4, 'Max Message Size', 'R', S, OPT, 'integer', undefined, 'B'),
    r(5, 'Average Message Size', 'R', S, OPT, 'integer', undefined, 'B'),
    r(6, 'Start', 'E', S, MAND, 'none'),
    r(7, 'Stop', 'E', S, MAND, 'none'),
    r(8, 'Collection Period', 'RW', S, OPT, 'integer', undefined, 's'),
  ],
);

/** Objects 0-7, by ascending id. */
export const coreObjects: ObjectDefinition[] = [
  SECURITY,
  SERVER,
  ACCESS_CONTROL,
  DEVICE,
  CONNECTIVITY_MONITORING,
  FIRMWARE_UPDATE,
  LOCATION,
  CONNECTIVITY_STATISTICS,
];
