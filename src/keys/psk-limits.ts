/** PSK sizes the key layer enforces (the store layer enforces the same; keys does not import upward). */
export const PSK_MIN_KEY_BYTES = 16;
/** RFC 4279 §5.3: implementations must support PSKs of up to 64 octets. */
export const PSK_MAX_KEY_BYTES = 64;
