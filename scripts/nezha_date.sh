# Sourced by bench/quality/run and scripts/experiment_nezha.sh: where one Nezha date's raw files are.
# nezha_date_dir <nezha dir> <system: train-ticket|online-boutique> <date> <directory to extract into>
#   prints the directory `rslicer ingest data.path=` reads for the date: the archive nezha-<system>-<date>.tar.zst
#   extracted into the last argument, else the Nezha checkout holding rca_data/<date>/; prints the error line and
#   returns 1 when neither is there.
nezha_date_dir() {
  local dir=$1 system=$2 date=$3 into=$4
  if [[ -f $dir/nezha-$system-$date.tar.zst ]]; then
    mkdir -p "$into" && tar --zstd -xf "$dir/nezha-$system-$date.tar.zst" -C "$into" && echo "$into"
  elif [[ -d $dir/rca_data/$date ]]; then
    echo "$dir"
  else
    echo "error: no Nezha data for $system $date in $dir, expected nezha-$system-$date.tar.zst or rca_data/$date/" >&2
    return 1
  fi
}

# True when the date can be read (no extraction).
nezha_date_present() { [[ -f $1/nezha-$2-$3.tar.zst || -d $1/rca_data/$3 ]]; }
