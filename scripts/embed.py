#!/usr/bin/python3
"""Turn a text file into a C array: embed.py SYMBOL INPUT OUTPUT."""
import sys

sym, src, dst = sys.argv[1:4]
data = open(src, 'rb').read()
with open(dst, 'w') as out:
    out.write('/* Generated from %s by scripts/embed.py. */\n' % src)
    out.write('const char %s[] = {\n' % sym)
    for i in range(0, len(data), 16):
        out.write('  ' + ''.join('%d,' % b for b in data[i:i + 16]) + '\n')
    out.write('  0\n};\n')
