/*
 * _frame.h - HP-Socket's Pack framing, done by hpsocket over the library's
 * push components.
 *
 * Every packet is a 4-byte header and a body.  The header is a uint32 in the
 * host's byte order (little-endian on x86 and ARM): the top 10 bits carry the
 * component's flag, the low 22 bits the body's length (1..max_pack_size).
 * A header with another flag (when the flag is not 0) closes the connection
 * with EBADMSG, a length of 0 or over max_pack_size with EMSGSIZE, as the
 * library's own pack components do.
 *
 * Why not the library's pack components: their send adds the header inside
 * the library, so a reply could not be written straight to the socket
 * (_send.h), and they call back once per packet where hpsocket takes
 * the GIL once per received chunk.
 */
#ifndef HPSOCKET_FRAME_H
#define HPSOCKET_FRAME_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define HPS_PACK_MAX_FLAG 0x3FFu
#define HPS_PACK_MAX_SIZE 0x3FFFFFu
#define HPS_PACK_DEFAULT_SIZE 0x40000u

static inline uint32_t hps_pack_header(unsigned int flag, uint32_t length)
{
    return ((uint32_t)flag << 22) | (length & HPS_PACK_MAX_SIZE);
}

/*
 * The next packet of data[*pos:n]: 1 and its body in *body and *length (and
 * *pos moved past it), 0 if no whole packet is there yet, or a negative
 * errno for a bad header.
 */
static inline int hps_pack_next(const unsigned char *data, size_t n, size_t *pos,
                                unsigned int flag, uint32_t max_size,
                                const unsigned char **body, uint32_t *length)
{
    uint32_t h, len;
    if (n - *pos < 4)
        return 0;
    memcpy(&h, data + *pos, 4);
    len = h & HPS_PACK_MAX_SIZE;
    if (flag != 0 && (h >> 22) != flag)
        return -EBADMSG;
    if (len == 0 || len > max_size)
        return -EMSGSIZE;
    if (n - *pos - 4 < len)
        return 0;
    *body = data + *pos + 4;
    *length = len;
    *pos += 4 + (size_t)len;
    return 1;
}

#endif /* HPSOCKET_FRAME_H */
