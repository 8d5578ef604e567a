/** Whether a file name belongs to CIFAR-10's binary distribution. */
export function isCifar10File(name: string): boolean;
/** Picks CIFAR-10's files out of a list; throws saying which files are missing. */
export function cifar10Files(files: { name: string; bytes: Uint8Array }[]): {
  train: { name: string; bytes: Uint8Array }[];
  test: { name: string; bytes: Uint8Array }[];
  classNames: string[] | null;
};
